"""Scenario ``connections``: PostgreSQL directly, through PgBouncer, or through Django's own pool.

Two measurements:

- **connection**: in this process, open a connection and run ``SELECT 1`` (psycopg), directly
  and through PgBouncer; and take a connection from a psycopg pool (what Django's ``pool``
  option uses) and run ``SELECT 1``.
- **requests**: the DRF product list through the app server under each configuration, one
  connection at a time (latency per request) and under load, with the catalog cache off
  (``CATALOG_CACHE_S=0``): from the cache, a request would run no query and open no
  connection, whatever the configuration. The shop ships Django's pool (per worker process) to
  PgBouncer; ``no_pool_settings`` opens a new connection per request (``CONN_MAX_AGE = 0``, no
  pool). A quick run leaves out the pool straight to PostgreSQL.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import psycopg
from common import QUICK, Bench, latency_ms
from psycopg_pool import ConnectionPool
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

NAME = "connections"
CLAIM = "PgBouncer: 3-5x latency reduction proven"
TARGET = Target(3)
"""Connecting directly over connecting through PgBouncer: p50 latency ratio."""
PATH = "/api/sync/catalog/products"
UNCACHED = {"CATALOG_CACHE_S": "0"}
"""Every configuration's server: each request reads the list's rows from the database."""
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


def connection_costs(
    *, direct_url: str, bouncer_url: str, samples: int, rounds: int
) -> dict[str, Any]:
    """Time opening a connection plus ``SELECT 1``, each way, in rounds.

    Args:
        direct_url: PostgreSQL.
        bouncer_url: PgBouncer.
        samples: Connections per way and round.
        rounds: Rounds.

    Returns:
        By way: the medians over the rounds of each round's percentiles, and each round's
        percentiles under ``repeats``.
    """
    rounds_by_way: dict[str, list[dict[str, float]]] = {DIRECT: [], BOUNCER: [], POOL: []}
    for _ in range(rounds):
        rounds_by_way[DIRECT].append(_timed(samples, lambda: psycopg.connect(direct_url)))
        rounds_by_way[BOUNCER].append(_timed(samples, lambda: psycopg.connect(bouncer_url)))
        with ConnectionPool(direct_url, min_size=1, max_size=1, open=True) as pool:
            rounds_by_way[POOL].append(_timed(samples, pool.connection))
    keys = ("p50_ms", "p95_ms", "p99_ms")
    return {
        way: {
            **{key: statistics.median(one[key] for one in each) for key in keys},
            "repeats": {key: [one[key] for one in each] for key in keys},
        }
        for way, each in rounds_by_way.items()
    }


def run(bench: Bench) -> dict[str, Any]:
    """Measure the connection costs, then the product list under each configuration.

    Args:
        bench: The harness.

    Returns:
        ``{"connection": {...}, "single": {...}, "load": {...}}``.
    """
    direct = bench.env["DATABASE_DIRECT_URL"]
    rounds = bench.budget.rounds
    bench.progress.say(NAME, f"{rounds} rounds of {bench.budget.samples} connections each way")
    figures: dict[str, Any] = {
        "connection": connection_costs(
            direct_url=direct,
            bouncer_url=bench.env["DATABASE_URL"],
            samples=bench.budget.samples,
            rounds=rounds,
        ),
        "single": {},
        "load": {},
    }
    configs: dict[str, dict[str, str]] = {
        POOL_BOUNCER: {},  # as shipped
        BOUNCER: {"settings": "no_pool_settings"},
        DIRECT: {"settings": "no_pool_settings", "database_url": direct},
        POOL: {"database_url": direct},
    }
    if bench.budget == QUICK:  # a check of the harness: the shipped row and the verdict's two
        del configs[POOL]
    for label, options in configs.items():
        bench.progress.say(NAME, f"starting the app server: {label}")
        with bench.server_for(environment=UNCACHED, **options) as server:
            figures["single"][label] = bench.load(server, PATH, connections=1)
            figures["load"][label] = bench.load(server, PATH)
        server.cleanup()
    return figures


def verdicts(figures: dict[str, Any], *, quiet: bool) -> list[Verdict]:
    """Judge the seed's 3-5x on every round: PgBouncer's latency against connecting directly.

    Args:
        figures: What :func:`run` measured.
        quiet: Whether the machine was quiet.

    Returns:
        One verdict.
    """

    def faster(group: dict[str, Any]) -> list[float]:
        direct, bouncer = group[DIRECT]["repeats"]["p50_ms"], group[BOUNCER]["repeats"]["p50_ms"]
        return [ratio(d, b) for d, b in zip(direct, bouncer, strict=True)]

    connect, request = faster(figures["connection"]), faster(figures["single"])
    median = {
        name: ratio(figures[name][DIRECT]["p50_ms"], figures[name][BOUNCER]["p50_ms"])
        for name in ("connection", "single")
    }
    measured = (
        f"connecting + SELECT 1 x{fmt(median['connection'], 2)} faster through PgBouncer (p50); "
        f"a whole request (product list) x{fmt(median['single'], 2)} (medians of the rounds)"
    )
    if all(TARGET.meets(ratio) for ratio in request):
        return [Verdict(CLAIM, measured, CONFIRMED, "", NAME)]
    if all(TARGET.meets(ratio) for ratio in connect):
        condition = "for opening a connection, not for a whole request"
        return [Verdict(CLAIM, measured, CONDITIONAL, condition, NAME)]
    word = verdict_word(
        met=[TARGET.meets(ratio) for ratio in request],
        clearly_missed=[
            TARGET.clearly_misses(max(pair)) for pair in zip(connect, request, strict=True)
        ],
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

    def ranged(cost: dict[str, Any]) -> str:
        rounds = cost["repeats"]["p50_ms"]
        return f"{fmt(cost['p50_ms'], 2)} ({fmt(min(rounds), 2)} to {fmt(max(rounds), 2)})"

    connection = table(
        ["connection + SELECT 1", "p50 ms", "p95 ms", "p99 ms"],
        [
            [label, ranged(cost), fmt(cost["p95_ms"], 2), fmt(cost["p99_ms"], 2)]
            for label, cost in figures["connection"].items()
        ],
    )
    return (
        f"**Opening a connection** (in one process)\n\n{connection}\n\n"
        f"**One request at a time** (the product list, the catalog cache off)\n\n"
        f"{table(LOAD_HEADER, load_rows(figures['single']))}\n\n"
        f"**Under load**\n\n{table(LOAD_HEADER, load_rows(figures['load']))}\n\n"
        f"Opening a connection: the median of the rounds' percentiles (lowest to highest p50). "
        f"{LOAD_NOTE}"
    )


def plot(figures: dict[str, Any], path: Path, *, note: str = "") -> None:
    """Draw connection cost, latency per request and throughput under load.

    Args:
        figures: What :func:`run` measured.
        path: The PNG to write.
        note: Written under the title.
    """
    short = {DIRECT: "direct", BOUNCER: "PgBouncer", POOL: "pool", POOL_BOUNCER: "pool+PgBouncer"}
    panels = {
        "connect + SELECT 1: p50 ms": {
            short[k]: rounds_of(v, "p50_ms") for k, v in figures["connection"].items()
        },
        "one request at a time: p50 ms": {
            short[k]: rounds_of(v, "p50_ms") for k, v in figures["single"].items()
        },
        "under load: requests/s": {
            short[k]: rounds_of(v, "requests_per_s") for k, v in figures["load"].items()
        },
    }
    bars(path, title="Database connections", panels=panels, note=note)
