"""Turn the figures into what the Benchmarks page shows: Markdown tables, verdicts, plots, JSON.

Every number on the page comes from here: each scenario writes ``<scenario>.md.txt`` (its
table and verdicts) and ``<scenario>.png``; ``run.md.txt`` says when, where and how the figures
were taken; ``verdicts.md.txt`` lists every verdict for the claims ledger; ``results.json``
holds everything. Each ``.md.txt`` begins with the run's :func:`common.taken_on` line.

Verdicts are worded from every round of a cell, never from one figure: **confirmed** when every
round meets the target; **refuted** only when every round misses it by more than
:data:`MARGIN` on a quiet machine; otherwise **not met on this machine**, with the figure.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

CONFIRMED = "confirmed"
REFUTED = "refuted"
NOT_MET = "not met on this machine"
CONDITIONAL = "conditional"
NOT_APPLICABLE = "not applicable"
VERDICTS = (CONFIRMED, REFUTED, NOT_MET, CONDITIONAL, NOT_APPLICABLE)
MARGIN = 0.2
"""A round misses a target clearly when it is this share of the target beyond it."""


@dataclass(frozen=True)
class Verdict:
    """One claim of the seed checklist and what the run found.

    Attributes:
        claim: The claim, as the seed words it.
        measured: What was measured, with the figures.
        verdict: One of :data:`VERDICTS`.
        condition: On what a conditional verdict depends, or why a claim does not apply.
        section: The anchor of the scenario on the Benchmarks page.
    """

    claim: str
    measured: str
    verdict: str
    condition: str
    section: str


@dataclass(frozen=True)
class Target:
    """A threshold a figure must reach (``at_least``) or stay under.

    Attributes:
        value: The threshold.
        at_least: ``True``: a figure meets it at or above it; ``False``: strictly under it.
    """

    value: float
    at_least: bool = True

    def meets(self, figure: float) -> bool:
        """Whether a figure meets the target.

        Args:
            figure: One round's figure.

        Returns:
            Whether it does.
        """
        return figure >= self.value if self.at_least else figure < self.value

    def clearly_misses(self, figure: float) -> bool:
        """Whether a figure misses the target by more than :data:`MARGIN`.

        Args:
            figure: One round's figure.

        Returns:
            Whether it does.
        """
        if self.at_least:
            return figure < self.value * (1 - MARGIN)
        return figure > self.value * (1 + MARGIN)


def verdict_word(*, met: list[bool], clearly_missed: list[bool], quiet: bool) -> str:
    """Word a verdict from every round: a busy machine or one round near the target never refutes.

    Args:
        met: Whether each round met the target.
        clearly_missed: Whether each round missed it by more than :data:`MARGIN`.
        quiet: Whether the machine was quiet during the whole run.

    Returns:
        ``confirmed`` when every round met it; ``refuted`` when every round missed it clearly
        on a quiet machine; ``not met on this machine`` otherwise.
    """
    if met and all(met):
        return CONFIRMED
    if quiet and clearly_missed and all(clearly_missed):
        return REFUTED
    return NOT_MET


def judge(
    figures: list[float],
    target: Target,
    *,
    quiet: bool,
    claim: str,
    measured: str,
    section: str,
) -> Verdict:
    """Judge a claim on one figure of every round (:func:`verdict_word`).

    Args:
        figures: The figure of each round.
        target: What the claim asks of it.
        quiet: Whether the machine was quiet.
        claim: The claim.
        measured: What was measured, with the figures.
        section: The scenario's anchor.

    Returns:
        The verdict.
    """
    word = verdict_word(
        met=[target.meets(figure) for figure in figures],
        clearly_missed=[target.clearly_misses(figure) for figure in figures],
        quiet=quiet,
    )
    return Verdict(claim, measured, word, "", section)


def ratio(numerator: float, denominator: float) -> float:
    """Divide; NaN for a zero denominator (a round that got no answer): it meets no target.

    Nor does it miss one clearly, so a verdict on it is never *refuted*.

    Args:
        numerator: The figure.
        denominator: What it is set against.

    Returns:
        The ratio, or NaN.
    """
    return numerator / denominator if denominator else math.nan


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


def cell_spread(cell: dict[str, Any], key: str, digits: int = 1) -> str:
    """Format one figure of a cell as its median and the range of its rounds.

    Args:
        cell: A cell (``common.summarise``).
        key: ``requests_per_s``, ``p95_ms``...
        digits: Decimals.

    Returns:
        ``median (min to max)``.
    """
    rounds = cell["repeats"][key]
    return f"{fmt(cell[key], digits)} ({fmt(min(rounds), digits)} to {fmt(max(rounds), digits)})"


def _row(label: str, run: dict[str, Any], versus: float | None) -> list[object]:
    return [
        label,
        cell_spread(run, "requests_per_s"),
        f"x{fmt(versus, 2)}",
        fmt(run["p50_ms"]),
        cell_spread(run, "p95_ms"),
        fmt(run["p99_ms"]),
        run["errors"],
        f"{fmt(run['client_cpu_s'])} / {fmt(run['server_cpu_s'])}",
    ]


def load_rows(runs: dict[str, dict[str, Any]]) -> list[list[object]]:
    """Rows of a load-run table: bare Django's first, then each run beside them.

    Args:
        runs: Cells by label, each with its ``bare`` cells (``Bench.load``).

    Returns:
        Bare Django's ping and list for each kind of server and connections the runs used,
        then one row per run; each with requests/s over bare Django's list's.
    """
    rows: list[list[object]] = []
    seen = set()
    for run in runs.values():
        bare = run["bare"]
        if bare["label"] not in seen:
            seen.add(bare["label"])
            listed = bare["bare list"]["requests_per_s"]
            for name in ("bare ping", "bare list"):
                versus = bare[name]["requests_per_s"] / listed if listed else None
                rows.append(_row(f"*{bare['label']}: {name}*", bare[name], versus))
    rows += [_row(label, run, run["vs_bare_list"]) for label, run in runs.items()]
    return rows


LOAD_HEADER = [
    "run",
    "requests/s",
    "÷ bare list",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "CPU s: wrk / server",
]
LOAD_NOTE = (
    "Requests/s and p95: the median of the rounds (lowest to highest); p50, p99 and CPU "
    "seconds per round: the median. *÷ bare list*: requests/s over those of bare Django's list "
    "under the same kind of server with as many connections, measured in the same run."
)


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
            f"- **{item.verdict.capitalize()}**{condition}: *{item.claim}*. "
            f"Measured: {item.measured}."
        )
    return "\n".join(lines)


Plotted = float | Sequence[float]
"""A bar's figure: one value, or each round's (drawn as their median with their range)."""

ROUNDS_KEY = "bars: the median of the rounds; lines: lowest to highest"
"""Under a plot's title when a bar stands for several rounds."""


def rounds_of(cell: dict[str, Any], key: str) -> Plotted:
    """A cell's figure for a plot: each round's value when the cell kept them, else the one.

    Args:
        cell: A cell of figures (:func:`common.summarise`'s, or any with ``repeats``).
        key: The figure.

    Returns:
        The rounds' values, or the cell's single value.
    """
    repeated: Sequence[float] | None = cell.get("repeats", {}).get(key)
    return list(repeated) if repeated else float(cell[key])


def bar_figure(
    *,
    title: str,
    panels: dict[str, dict[str, Plotted]],
    targets: dict[str, float] | None = None,
    note: str = "",
) -> Figure:
    """Draw one bar chart per panel, side by side.

    A bar given each round's values stands at their median, with a line from the lowest round
    to the highest, so that a plot shows the spread its table gives in brackets.

    Args:
        title: The figure's title.
        panels: Panel title (with its unit) to bars (label to value, or to each round's).
        targets: Panel title to a target drawn as a dashed line.
        note: Added under the title (``taken on a busy machine``).

    Returns:
        The figure (closed by the caller).
    """
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    ranged = False
    for axis, (name, values) in zip(axes[0], panels.items(), strict=True):
        labels = list(values)
        heights, below, above = [], [], []
        for label in labels:
            value = values[label]
            rounds = [float(value)] if isinstance(value, int | float) else list(value)
            middle = statistics.median(rounds)
            heights.append(middle)
            below.append(middle - min(rounds))
            above.append(max(rounds) - middle)
            ranged = ranged or len(rounds) > 1
        axis.bar(
            range(len(labels)),
            heights,
            color="#673ab7",
            yerr=[below, above] if any(below) or any(above) else None,
            ecolor="#212121",
            capsize=4,
        )
        axis.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        axis.set_title(name, fontsize=10)
        target = (targets or {}).get(name)
        if target is not None:
            axis.axhline(target, color="#e65100", linestyle="--", linewidth=1)
    lines = [title, *([ROUNDS_KEY] if ranged else []), *([note] if note else [])]
    figure.suptitle("\n".join(lines), fontsize=11)
    figure.tight_layout()
    return figure


def bars(
    path: Path,
    *,
    title: str,
    panels: dict[str, dict[str, Plotted]],
    targets: dict[str, float] | None = None,
    note: str = "",
) -> None:
    """Draw :func:`bar_figure` and save it as PNG.

    Args:
        path: Where to write.
        title: The figure's title.
        panels: Panel title (with its unit) to bars (label to value, or to each round's).
        targets: Panel title to a target drawn as a dashed line.
        note: Added under the title (``taken on a busy machine``).
    """
    figure = bar_figure(title=title, panels=panels, targets=targets, note=note)
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
        ["claim", "measured", "verdict", "evidence"],
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
