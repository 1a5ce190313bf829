"""Scenario ``server``: ``uvicorn --workers N`` as shipped against the same with TCP_NODELAY.

Not a claim of the seed: a finding of this harness. The deploy image runs ``uvicorn --workers``;
with several workers uvicorn leaves Nagle's algorithm on (see :mod:`serve_nodelay`). The product
list of the async API, loaded one connection at a time and under load, through both; bare
Django beside them is served by the TCP_NODELAY launcher.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apis import ASYNC_LIST
from common import Bench
from report import LOAD_HEADER, LOAD_NOTE, Verdict, bars, fmt, load_rows, table

NAME = "server"
SHIPPED = "uvicorn --workers N, as shipped"
NODELAY = "uvicorn --workers N, TCP_NODELAY"

NAGLE_MS = 5.0
"""A median this much slower as shipped is Nagle's delay (a delayed ACK costs tens of ms)."""


def run(bench: Bench) -> dict[str, Any]:
    """Load the product list through both servers.

    Args:
        bench: The harness (its server is the TCP_NODELAY one).

    Returns:
        ``{"single": {server: figures}, "load": {server: figures}}``.
    """
    figures: dict[str, Any] = {"single": {}, "load": {}}
    bench.progress.say(NAME, f"starting the app server: {SHIPPED}")
    with bench.server_for(nodelay=False) as shipped:
        for label, server in ((SHIPPED, shipped), (NODELAY, bench.server)):
            figures["single"][label] = bench.load(server, ASYNC_LIST, connections=1)
            figures["load"][label] = bench.load(server, ASYNC_LIST)
    shipped.cleanup()
    return figures


def verdicts(figures: dict[str, Any], *, quiet: bool) -> list[Verdict]:
    """No seed claim is at stake here.

    Args:
        figures: What :func:`run` measured.
        quiet: Whether the machine was quiet.

    Returns:
        No verdict.
    """
    return []


def markdown(figures: dict[str, Any]) -> str:
    """Write the scenario's tables.

    Args:
        figures: What :func:`run` measured.

    Returns:
        Markdown.
    """
    single = figures["single"]
    extra = single[SHIPPED]["p50_ms"] - single[NODELAY]["p50_ms"]
    return (
        f"**One request at a time** (the product list, async API)\n\n"
        f"{table(LOAD_HEADER, load_rows(single))}\n\n"
        f"**Under load**\n\n{table(LOAD_HEADER, load_rows(figures['load']))}\n\n"
        f"{LOAD_NOTE}\n\n"
        + (
            f"As shipped, a request one at a time takes {fmt(extra)} ms longer at the median."
            if extra >= NAGLE_MS
            else f"As shipped, a request one at a time is as fast at the median "
            f"({fmt(abs(extra))} ms apart): the shipped loop does not leave Nagle's algorithm on."
        )
    )


def plot(figures: dict[str, Any], path: Path, *, note: str = "") -> None:
    """Draw latency one at a time and throughput under load, per server.

    Args:
        figures: What :func:`run` measured.
        path: The PNG to write.
        note: Written under the title.
    """
    short = {SHIPPED: "as shipped", NODELAY: "TCP_NODELAY"}
    panels = {
        "one at a time: p50 ms": {short[k]: v["p50_ms"] for k, v in figures["single"].items()},
        "under load: requests/s": {
            short[k]: v["requests_per_s"] for k, v in figures["load"].items()
        },
    }
    bars(path, title="uvicorn --workers N: Nagle on (as shipped) or off", panels=panels, note=note)
