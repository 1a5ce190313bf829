"""Scenario ``connections``: PostgreSQL directly, through PgBouncer, or through Django's own pool.

Two measurements:

- **connection**: in this process, open a connection and run ``SELECT 1`` (psycopg), directly
  and through PgBouncer; and take a connection from a psycopg pool (what Django's ``pool``
  option uses) and run ``SELECT 1``.
- **requests**: the DRF product list (three queries on one connection per request) through the
  app server under each configuration, one connection at a time (latency per request) and
  under load. The shop ships Django's pool (per worker process) to PgBouncer;
  ``no_pool_settings`` opens a new connection per request (``CONN_MAX_AGE = 0``, no pool).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg
from common import AppServer, Bench, latency_ms
from psycopg_pool import ConnectionPool
from report import CONDITIONAL, LOAD_HEADER, Verdict, bars, fmt, judge, load_rows, table

NAME = "connections"
CLAIM = "PgBouncer: 3-5x latency reduction proven"
PATH = "/api/sync/catalog/products"
DIRECT = "direct, new connection per request"
BOUNCER = "PgBouncer, new connection per request"
POOL = "Django pool to PostgreSQL"
POOL_BOUNCER = "Django pool to PgBouncer"


def _timed(
    samples: int, opened: Callable[[], AbstractContextManager[psycopg.Connection[Any]]]
) -> dict[str, float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        with opened() as connection:
            connection.execute("SELECT 1").fetchone()
        times.append(time.perf_counter() - started)
    return latency_ms(times)


def connection_costs(*, direct_url: str, bouncer_url: str, samples: int) -> dict[str, Any]:
    """Time opening a connection plus ``SELECT 1``, each way.

    Args:
        direct_url: PostgreSQL.
        bouncer_url: PgBouncer.
        samples: Connections per way.

    Returns:
        Latency percentiles by way.
    """
    costs = {
        DIRECT: _timed(samples, lambda: psycopg.connect(direct_url)),
        BOUNCER: _timed(samples, lambda: psycopg.connect(bouncer_url)),
    }
    with ConnectionPool(direct_url, min_size=1, max_size=1, open=True) as pool:
        costs[POOL] = _timed(samples, pool.connection)
    return costs


def run(bench: Bench) -> dict[str, Any]:
    """Measure the connection costs, then the product list under each configuration.

    Args:
        bench: The harness.

    Returns:
        ``{"connection": {...}, "single": {...}, "load": {...}}``.
    """
    direct = bench.env["DATABASE_DIRECT_URL"]
    bench.progress.say(NAME, f"{bench.budget.samples} connections each way")
    figures: dict[str, Any] = {
        "connection": connection_costs(
            direct_url=direct, bouncer_url=bench.env["DATABASE_URL"], samples=bench.budget.samples
        ),
        "single": {},
        "load": {},
    }
    configs = {
        BOUNCER: {"settings": "no_pool_settings"},
        DIRECT: {"settings": "no_pool_settings", "database_url": direct},
        POOL: {"database_url": direct},
    }

    def measure(label: str, server: AppServer) -> None:
        figures["single"][label] = bench.load(server, PATH, connections=1)
        figures["load"][label] = bench.load(server, PATH)

    measure(POOL_BOUNCER, bench.server)  # as shipped
    for label, options in configs.items():
        bench.progress.say(NAME, f"starting the app server: {label}")
        with bench.server_for(**options) as server:
            measure(label, server)
        server.cleanup()
    return figures


def verdicts(figures: dict[str, Any]) -> list[Verdict]:
    """Judge the seed's 3-5x: PgBouncer's latency against connecting directly.

    Args:
        figures: What :func:`run` measured.

    Returns:
        One verdict.
    """
    connect = figures["connection"][DIRECT]["p50_ms"] / figures["connection"][BOUNCER]["p50_ms"]
    request = figures["single"][DIRECT]["p50_ms"] / figures["single"][BOUNCER]["p50_ms"]
    measured = (
        f"connecting + SELECT 1 x{fmt(connect, 2)} faster through PgBouncer (p50); a whole "
        f"request (product list) x{fmt(request, 2)}"
    )
    if connect >= 3 > request:
        condition = "for opening a connection, not for a whole request"
        return [Verdict(CLAIM, measured, CONDITIONAL, condition, NAME)]
    return [judge(request >= 3, CLAIM, measured, NAME)]


def markdown(figures: dict[str, Any]) -> str:
    """Write the scenario's tables.

    Args:
        figures: What :func:`run` measured.

    Returns:
        Markdown.
    """
    connection = table(
        ["connection + SELECT 1", "p50 ms", "p95 ms", "p99 ms"],
        [
            [label, fmt(cost["p50_ms"], 2), fmt(cost["p95_ms"], 2), fmt(cost["p99_ms"], 2)]
            for label, cost in figures["connection"].items()
        ],
    )
    return (
        f"**Opening a connection** (in one process)\n\n{connection}\n\n"
        f"**One request at a time** (the product list)\n\n"
        f"{table(LOAD_HEADER, load_rows(figures['single']))}\n\n"
        f"**Under load**\n\n{table(LOAD_HEADER, load_rows(figures['load']))}"
    )


def plot(figures: dict[str, Any], path: Path) -> None:
    """Draw connection cost, latency per request and throughput under load.

    Args:
        figures: What :func:`run` measured.
        path: The PNG to write.
    """
    short = {DIRECT: "direct", BOUNCER: "PgBouncer", POOL: "pool", POOL_BOUNCER: "pool+PgBouncer"}
    panels = {
        "connect + SELECT 1: p50 ms": {
            short[k]: v["p50_ms"] for k, v in figures["connection"].items()
        },
        "one request at a time: p50 ms": {
            short[k]: v["p50_ms"] for k, v in figures["single"].items()
        },
        "under load: requests/s": {
            short[k]: v["requests_per_s"] for k, v in figures["load"].items()
        },
    }
    bars(path, title="Database connections", panels=panels)
