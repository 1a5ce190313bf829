"""Scenario ``baselines``: the seed's performance baselines on the product list and order placement.

The product list figures are those of the ``apis`` scenario (same run, same server); order
placement (``POST /api/{async,sync}/orders``, one unit of a random demo variant) is loaded
here. Then, from the same app server:

- SQL statement durations per route, timed inside the workers (:mod:`bench_asgi`), for every
  request of the run on the default configuration (PgBouncer);
- cache reads, hits and misses, as the shop's ``/metrics`` counted them during each load run;
- the resident memory of each worker process after everything the server served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apis import ASYNC_LIST, DRF_ASGI, NINJA, SYNC_LIST
from common import Bench, latency_ms, rss_mb
from report import LOAD_HEADER, Verdict, bars, fmt, judge, load_rows, table

NAME = "baselines"
TARGET_RPS = 1000
TARGET_P95_MS = 100
QUERY_P95_MS = 50
HIT_RATE = 0.8
MEMORY_MB = 500
ROUTES = {
    f"product list, {NINJA}": ASYNC_LIST,
    f"product list, {DRF_ASGI}": SYNC_LIST,
    f"order placement, {NINJA}": "/api/async/orders",
    f"order placement, {DRF_ASGI}": "/api/sync/orders",
}


def run(bench: Bench, *, catalog: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Load order placement through both APIs; read the workers' memory afterwards.

    Args:
        bench: The harness.
        catalog: The product list runs of the ``apis`` scenario, by label.

    Returns:
        The load runs by label and the memory of each worker; the SQL timings come later
        (:func:`add_query_times`), once the server has stopped.
    """
    runs = {
        f"product list, {NINJA}": catalog[NINJA],
        f"product list, {DRF_ASGI}": catalog[DRF_ASGI],
    }
    for flavour, label in (("async", NINJA), ("sync", DRF_ASGI)):
        runs[f"order placement, {label}"] = bench.load(
            bench.server, f"/api/{flavour}/orders", kind="order", ids=bench.variant_ids
        )
    return {"runs": runs, "worker_rss_mb": [rss_mb(pid) for pid in bench.server.worker_pids()]}


def add_query_times(figures: dict[str, Any], times: dict[str, list[float]]) -> None:
    """Add each route's SQL statement durations.

    Args:
        figures: What :func:`run` returned.
        times: Seconds per statement, by route (``AppServer.query_times``).
    """
    figures["queries"] = {label: latency_ms(times[route]) for label, route in ROUTES.items()}


def verdicts(figures: dict[str, Any]) -> list[Verdict]:
    """Judge each baseline on both endpoints.

    Args:
        figures: What :func:`run` measured, with the SQL timings.

    Returns:
        One verdict per baseline, and the project's own target.
    """
    runs, queries = figures["runs"], figures["queries"]
    slowest_p95 = max(run["p95_ms"] for run in runs.values())
    fewest = min(run["requests_per_s"] for run in runs.values())
    list_runs = {k: v for k, v in runs.items() if k.startswith("product list")}
    best_list = max(list_runs.values(), key=lambda run: run["requests_per_s"])
    query_p95 = max(item["p95_ms"] for item in queries.values())
    hits = sum(run.get("catalog_from_cache", 0) for run in list_runs.values())
    reads = hits + sum(run.get("catalog_from_database", 0) for run in list_runs.values())
    memory = max(figures["worker_rss_mb"])
    return [
        judge(
            slowest_p95 < TARGET_P95_MS,
            "API response < 100ms (p95)",
            f"worst p95 of the four runs {fmt(slowest_p95)} ms",
            NAME,
        ),
        judge(
            fewest > TARGET_RPS,
            "Throughput > 1000 RPS",
            f"fewest requests/s of the four runs {fmt(fewest, 0)}",
            NAME,
        ),
        judge(
            query_p95 < QUERY_P95_MS,
            "Query time < 50ms (p95)",
            f"worst p95 of a statement {fmt(query_p95, 2)} ms",
            NAME,
        ),
        judge(
            reads > 0 and hits / reads > HIT_RATE,
            "Cache hit rate > 80%",
            f"the product list runs' catalog answers: {fmt(reads, 0)}, "
            f"{fmt(100 * hits / reads if reads else 0)}% from the cache",
            NAME,
        ),
        judge(
            memory < MEMORY_MB,
            "Memory < 500MB/pod",
            f"largest worker process {fmt(memory)} MiB resident after the run",
            NAME,
        ),
        judge(
            best_list["requests_per_s"] >= TARGET_RPS and best_list["p95_ms"] < TARGET_P95_MS,
            "project target: product list at 1,000 requests/s or more with p95 < 100 ms on 2 cores",
            f"best product list run {fmt(best_list['requests_per_s'], 0)} requests/s, "
            f"p95 {fmt(best_list['p95_ms'])} ms",
            NAME,
        ),
    ]


def markdown(figures: dict[str, Any]) -> str:
    """Write the scenario's tables.

    Args:
        figures: What :func:`run` measured, with the SQL timings.

    Returns:
        Markdown.
    """
    runs = figures["runs"]
    per_request = table(
        ["run", "SQL statements per request", "SQL p50 ms", "SQL p95 ms", "cache reads", "hits"],
        [
            [
                label,
                fmt(run["queries_per_request"]),
                fmt(figures["queries"][label]["p50_ms"], 2),
                fmt(figures["queries"][label]["p95_ms"], 2),
                fmt(run["cache_hits"] + run["cache_misses"], 0),
                fmt(run["cache_hits"], 0),
            ]
            for label, run in runs.items()
        ],
    )
    memory = ", ".join(f"{fmt(mb)} MiB" for mb in figures["worker_rss_mb"])
    return (
        f"{table(LOAD_HEADER, load_rows(runs))}\n\n{per_request}\n\n"
        f"Resident memory of each worker process after the run: {memory}."
    )


def plot(figures: dict[str, Any], path: Path) -> None:
    """Draw requests/s, p95 and SQL p95 of each run against the seed's thresholds.

    Args:
        figures: What :func:`run` measured, with the SQL timings.
        path: The PNG to write.
    """
    runs = figures["runs"]
    short = {label: label.replace(" (ASGI)", "").replace(", ", "\n") for label in runs}
    panels = {
        "requests/s": {short[k]: v["requests_per_s"] for k, v in runs.items()},
        "p95 ms": {short[k]: v["p95_ms"] for k, v in runs.items()},
        "SQL statement p95 ms": {short[k]: figures["queries"][k]["p95_ms"] for k in runs},
    }
    targets = {
        "requests/s": TARGET_RPS,
        "p95 ms": TARGET_P95_MS,
        "SQL statement p95 ms": QUERY_P95_MS,
    }
    bars(
        path, title="Seed baselines (dashed: the seed's threshold)", panels=panels, targets=targets
    )
