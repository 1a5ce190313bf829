"""Turn the figures into what the Benchmarks page shows: Markdown tables, verdicts, plots, JSON.

Every number on the page comes from here: each scenario writes ``<scenario>.md`` (its table and
verdicts) and ``<scenario>.png``; ``run.md`` says when, where and how the figures were taken;
``verdicts.md`` lists every verdict for the claims ledger; ``results.json`` holds everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CONFIRMED = "confirmed"
REFUTED = "refuted"
CONDITIONAL = "conditional"
NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class Verdict:
    """One claim of the seed checklist and what the run found.

    Attributes:
        claim: The claim, as the seed words it.
        measured: What was measured, with the figures.
        verdict: ``confirmed``, ``refuted``, ``conditional`` or ``not applicable``.
        condition: On what a conditional verdict depends, or why a claim does not apply.
        section: The anchor of the scenario on the Benchmarks page.
    """

    claim: str
    measured: str
    verdict: str
    condition: str
    section: str


def judge(holds: bool, claim: str, measured: str, section: str) -> Verdict:
    """Make a verdict that is ``confirmed`` when the claim holds and ``refuted`` otherwise.

    Args:
        holds: Whether the figures satisfy the claim.
        claim: The claim.
        measured: What was measured.
        section: The scenario's anchor.

    Returns:
        The verdict.
    """
    return Verdict(claim, measured, CONFIRMED if holds else REFUTED, "", section)


def fmt(value: float | None, digits: int = 1) -> str:
    """Format a figure for a table: thousands separated, ``n/a`` for none.

    Args:
        value: The figure.
        digits: Decimals.

    Returns:
        The text.
    """
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def table(header: list[str], rows: Iterable[list[object]]) -> str:
    """Write a Markdown table.

    Args:
        header: The column titles.
        rows: The cells, already formatted.

    Returns:
        The table.
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def load_rows(runs: dict[str, dict[str, Any]]) -> list[list[object]]:
    """Rows of a load-run table: requests/s, latency percentiles, errors, CPU used.

    Args:
        runs: wrk figures by label.

    Returns:
        One row per run.
    """
    return [
        [
            label,
            fmt(run["requests_per_s"]),
            fmt(run["p50_ms"]),
            fmt(run["p95_ms"]),
            fmt(run["p99_ms"]),
            run["errors"],
            f"{fmt(run['client_cpu_s'])} / {fmt(run['server_cpu_s'])}",
        ]
        for label, run in runs.items()
    ]


LOAD_HEADER = [
    "run",
    "requests/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "CPU s: wrk / server",
]


def verdict_lines(verdicts: list[Verdict]) -> str:
    """Write the verdicts as a list.

    Args:
        verdicts: The verdicts.

    Returns:
        Markdown.
    """
    lines = []
    for item in verdicts:
        condition = f" ({item.condition})" if item.condition else ""
        lines.append(
            f"- **{item.verdict.capitalize()}**{condition}: the seed's *{item.claim}*. "
            f"Measured: {item.measured}."
        )
    return "\n".join(lines)


def bars(
    path: Path,
    *,
    title: str,
    panels: dict[str, dict[str, float]],
    targets: dict[str, float] | None = None,
) -> None:
    """Draw one bar chart per panel, side by side, and save it as PNG.

    Args:
        path: Where to write.
        title: The figure's title.
        panels: Panel title (with its unit) to bars (label to value).
        targets: Panel title to a target drawn as a dashed line.
    """
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for axis, (name, values) in zip(axes[0], panels.items(), strict=True):
        labels = list(values)
        axis.bar(range(len(labels)), [values[label] for label in labels], color="#673ab7")
        axis.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        axis.set_title(name, fontsize=10)
        target = (targets or {}).get(name)
        if target is not None:
            axis.axhline(target, color="#e65100", linestyle="--", linewidth=1)
    figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write the results, verdicts included.

    Args:
        path: Where.
        report: Everything the run produced.
    """
    path.write_text(json.dumps(report, indent=2, default=asdict) + "\n")


def verdict_table(verdicts: list[Verdict]) -> str:
    """Write every verdict as table rows for the claims ledger.

    Args:
        verdicts: Every scenario's verdicts.

    Returns:
        A Markdown table.
    """
    return table(
        ["seed claim", "measured", "verdict", "evidence"],
        [
            [
                item.claim,
                item.measured,
                item.verdict + (f": {item.condition}" if item.condition else ""),
                f"[Benchmarks](benchmarks.md#{item.section})",
            ]
            for item in verdicts
        ],
    )
