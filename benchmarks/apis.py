"""Scenario ``apis``: the Ninja async API against the DRF sync API, same machine, same data.

- **CPU-bound**: the product list (``GET /api/{async,sync}/catalog/products``, one page of the
  demo catalog: three queries, then serialisation), served under ASGI by the same granian
  server, and DRF's also under granian's WSGI interface (a few threads per worker).
- **I/O-bound**: paying an order (``POST /api/{async,sync}/orders/{id}/pay``), where the card
  gateway answers after the partners' latency. Both APIs call the same sync service
  (``payment_charge``); Ninja through ``sync_to_async(thread_sensitive=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import Bench
from report import (
    CONDITIONAL,
    CONFIRMED,
    LOAD_HEADER,
    LOAD_NOTE,
    Target,
    Verdict,
    bars,
    fmt,
    load_rows,
    ratio,
    rounds_of,
    table,
    verdict_word,
)

NAME = "apis"
CLAIM = "Django Ninja: 50% performance improvement documented"
TARGET = Target(1.5)
"""Ninja's requests/s over the best DRF deployment's."""
NINJA = "Ninja async (ASGI)"
DRF_ASGI = "DRF sync (ASGI)"
DRF_WSGI = "DRF sync (WSGI)"
ASYNC_LIST = "/api/async/catalog/products"
SYNC_LIST = "/api/sync/catalog/products"


def run(bench: Bench) -> dict[str, Any]:
    """Load each endpoint of each API in turn.

    Args:
        bench: The harness.

    Returns:
        ``{"cpu": {run: figures}, "io": {run: figures}, "partner_latency_ms"}``.
    """
    cpu = {
        NINJA: bench.load(bench.server, ASYNC_LIST),
        DRF_ASGI: bench.load(bench.server, SYNC_LIST),
    }
    io = {NINJA: bench.pay(bench.server, "async"), DRF_ASGI: bench.pay(bench.server, "sync")}
    bench.progress.say(NAME, "starting DRF under WSGI")
    with bench.server_for(interface="wsgi") as wsgi:
        cpu[DRF_WSGI] = bench.load(wsgi, SYNC_LIST)
        io[DRF_WSGI] = bench.pay(wsgi, "sync")
    wsgi.cleanup()
    return {"cpu": cpu, "io": io, "partner_latency_ms": bench.partner_latency_ms}


def ratios(runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Ninja's requests/s divided by each DRF deployment's (medians).

    Args:
        runs: The figures of one workload.

    Returns:
        The ratio against each DRF run.
    """
    ninja = runs[NINJA]["requests_per_s"]
    return {label: ratio(ninja, runs[label]["requests_per_s"]) for label in (DRF_ASGI, DRF_WSGI)}


def round_ratios(runs: dict[str, dict[str, Any]]) -> list[float]:
    """Ninja's requests/s over the best DRF deployment's, round by round.

    Args:
        runs: The figures of one workload.

    Returns:
        One ratio per round.
    """
    ninja = runs[NINJA]["repeats"]["requests_per_s"]
    asgi, wsgi = (runs[label]["repeats"]["requests_per_s"] for label in (DRF_ASGI, DRF_WSGI))
    return [ratio(n, max(a, w)) for n, a, w in zip(ninja, asgi, wsgi, strict=True)]


def verdicts(figures: dict[str, Any], *, quiet: bool) -> list[Verdict]:
    """Judge the seed's 50%: Ninja at 1.5 times the requests/s of the best DRF deployment.

    Args:
        figures: What :func:`run` measured.
        quiet: Whether the machine was quiet.

    Returns:
        One verdict.
    """
    best = {workload: min(ratios(figures[workload]).values()) for workload in ("cpu", "io")}
    measured = (
        f"Ninja's requests/s x{fmt(best['cpu'], 2)} the best DRF deployment's on the product "
        f"list, x{fmt(best['io'], 2)} on payments with the gateway at "
        f"{figures['partner_latency_ms']} ms (medians)"
    )
    rounds = {workload: round_ratios(figures[workload]) for workload in ("cpu", "io")}
    held = {
        workload
        for workload, ratios_ in rounds.items()
        if all(TARGET.meets(ratio) for ratio in ratios_)
    }
    if held == {"cpu", "io"}:
        return [Verdict(CLAIM, measured, CONFIRMED, "", NAME)]
    if held:
        where = "the I/O-bound endpoint" if "io" in held else "the CPU-bound list"
        return [Verdict(CLAIM, measured, CONDITIONAL, f"only on {where}", NAME)]
    pairs = list(zip(rounds["cpu"], rounds["io"], strict=True))
    word = verdict_word(
        met=[TARGET.meets(cpu) and TARGET.meets(io) for cpu, io in pairs],
        clearly_missed=[TARGET.clearly_misses(max(pair)) for pair in pairs],
        quiet=quiet,
    )
    return [Verdict(CLAIM, measured, word, "", NAME)]


def markdown(figures: dict[str, Any]) -> str:
    """Write the scenario's tables.

    Args:
        figures: What :func:`run` measured.

    Returns:
        Markdown.
    """
    parts = []
    titles = {
        "cpu": "CPU-bound: the product list",
        "io": f"I/O-bound: paying an order, gateway at {figures['partner_latency_ms']} ms",
    }
    for workload, title in titles.items():
        runs = figures[workload]
        versus = ratios(runs)
        parts.append(f"**{title}**\n\n" + table(LOAD_HEADER, load_rows(runs)))
        parts.append(
            f"Ninja / DRF requests/s: x{fmt(versus[DRF_ASGI], 2)} against DRF under ASGI, "
            f"x{fmt(versus[DRF_WSGI], 2)} against DRF under WSGI."
        )
    parts.append(LOAD_NOTE)
    return "\n\n".join(parts)


def plot(figures: dict[str, Any], path: Path, *, note: str = "") -> None:
    """Draw requests/s and p95 of each run, per workload.

    Args:
        figures: What :func:`run` measured.
        path: The PNG to write.
        note: Written under the title.
    """
    panels = {}
    for workload, title in (("cpu", "product list"), ("io", "pay an order")):
        runs = figures[workload]
        panels[f"{title}: requests/s"] = {
            k: rounds_of(v, "requests_per_s") for k, v in runs.items()
        }
        panels[f"{title}: p95 ms"] = {k: rounds_of(v, "p95_ms") for k, v in runs.items()}
    bars(path, title="Ninja async vs DRF sync", panels=panels, note=note)
