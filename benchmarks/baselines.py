"""Scenario ``baselines``: the seed's performance baselines on the product list and order placement.

Both APIs as the deploy files serve them: Ninja's under the harness's ASGI server, whose product
list figures are those of the ``apis`` scenario (same run, same server); DRF's under a WSGI
server started here, which loads its product list. Order placement (``POST
/api/{async,sync}/orders``, one unit of a random demo variant) is loaded here on each. DRF's
list is loaded once more from a WSGI server whose catalog answers are never cached
(``CATALOG_CACHE_S=0``, the cache off: each request runs the list's queries), beside
bare Django's list under the same kind of server. Then, from each server:

- SQL statement durations per route, timed inside the workers (:mod:`bench_timer`), for every
  request of the run on the default configuration (PgBouncer);
- cache reads, hits and misses, as the shop's ``/metrics`` counted them during each load run;
- the resident memory of each worker process after everything the server served.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apis import ASYNC_LIST, DRF_WSGI, NINJA, SYNC_LIST
from common import Bench, latency_ms, rss_mb
from report import (
    LOAD_HEADER,
    LOAD_NOTE,
    Target,
    Verdict,
    bars,
    fmt,
    judge,
    load_rows,
    rounds_of,
    table,
    verdict_word,
)

NAME = "baselines"
TARGET_RPS = 1000
TARGET_P95_MS = 100
QUERY_P95_MS = 50
HIT_RATE = 0.8
MEMORY_MB = 500
UNCACHED_SHARE = 0.8
"""The project's target for the uncached list: this share of bare Django's list's requests/s."""
UNCACHED = f"product list without the catalog cache, {DRF_WSGI}"
ASGI_ROUTES = {
    f"product list, {NINJA}": ASYNC_LIST,
    f"order placement, {NINJA}": "/api/async/orders",
}
WSGI_ROUTES = {
    f"product list, {DRF_WSGI}": SYNC_LIST,
    f"order placement, {DRF_WSGI}": "/api/sync/orders",
}


def run(bench: Bench, *, catalog: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Load order placement through both APIs and DRF's list; read the workers' memory afterwards.

    Args:
        bench: The harness.
        catalog: The product list runs of the ``apis`` scenario, by label.

    Returns:
        The load runs by label, the memory of each worker, and the WSGI server's SQL timings;
        the ASGI server's come later (:func:`add_query_times`), once it has stopped.
    """
    runs = {
        f"product list, {NINJA}": catalog[NINJA],
        f"order placement, {NINJA}": bench.load(
            bench.server, "/api/async/orders", kind="order", ids=bench.variant_ids
        ),
    }
    memory = [rss_mb(pid) for pid in bench.server.worker_pids()]
    bench.progress.say(NAME, "starting DRF under WSGI")
    with bench.server_for(interface="wsgi") as wsgi:
        runs[f"product list, {DRF_WSGI}"] = bench.load(wsgi, SYNC_LIST)
        runs[f"order placement, {DRF_WSGI}"] = bench.load(
            wsgi, "/api/sync/orders", kind="order", ids=bench.variant_ids
        )
        memory += [rss_mb(pid) for pid in wsgi.worker_pids()]
    times = wsgi.query_times()
    wsgi.cleanup()
    bench.progress.say(NAME, "starting DRF under WSGI without the catalog cache")
    with bench.server_for(interface="wsgi", environment={"CATALOG_CACHE_S": "0"}) as uncached:
        uncached_run = bench.load(uncached, SYNC_LIST)
    uncached_times = uncached.query_times()
    uncached.cleanup()
    return {
        "runs": runs,
        "uncached": {UNCACHED: uncached_run},
        "worker_rss_mb": memory,
        "queries": sql_times(times, WSGI_ROUTES) | sql_times(uncached_times, {UNCACHED: SYNC_LIST}),
    }


def sql_times(times: dict[str, list[float]], routes: dict[str, str]) -> dict[str, Any]:
    """Summarise the SQL statement durations of each run's route.

    A route that ran no statement (a list answered from the cache all along) has no entry.

    Args:
        times: Seconds per statement, by route (``AppServer.query_times``).
        routes: The route of each run, by label.

    Returns:
        :func:`common.latency_ms` by label.
    """
    return {label: latency_ms(times[route]) for label, route in routes.items() if times.get(route)}


def add_query_times(figures: dict[str, Any], times: dict[str, list[float]]) -> None:
    """Add the SQL statement durations of the routes the ASGI server served.

    Args:
        figures: What :func:`run` returned.
        times: Seconds per statement, by route (``AppServer.query_times``).
    """
    figures["queries"] |= sql_times(times, ASGI_ROUTES)


def verdicts(figures: dict[str, Any], *, quiet: bool) -> list[Verdict]:
    """Judge each baseline on both endpoints, round by round where the figure has rounds.

    Args:
        figures: What :func:`run` measured, with the SQL timings.
        quiet: Whether the machine was quiet.

    Returns:
        One verdict per baseline, and the project's own target.
    """
    runs, queries = figures["runs"], figures["queries"]

    def each_round(key: str) -> list[tuple[float, ...]]:
        return list(zip(*(run["repeats"][key] for run in runs.values()), strict=True))

    slowest_p95 = [max(p95s) for p95s in each_round("p95_ms")]
    fewest = [min(rates) for rates in each_round("requests_per_s")]
    list_runs = [run for label, run in runs.items() if label.startswith("product list")]
    best_lists = []  # per round: (requests/s, p95) of the list run with the most requests/s
    for number in range(len(slowest_p95)):
        best = max(list_runs, key=lambda run: run["repeats"]["requests_per_s"][number])
        best_lists.append(
            (best["repeats"]["requests_per_s"][number], best["repeats"]["p95_ms"][number])
        )
    query_p95 = max(item["p95_ms"] for item in queries.values())
    hits = sum(run.get("catalog_from_cache", 0) for run in list_runs)
    reads = hits + sum(run.get("catalog_from_database", 0) for run in list_runs)
    memory = max(figures["worker_rss_mb"])
    rate, latency = Target(TARGET_RPS), Target(TARGET_P95_MS, at_least=False)

    def rounds(values: list[float], digits: int = 1) -> str:
        return ", ".join(fmt(value, digits) for value in values)

    project = verdict_word(
        met=[rate.meets(rps) and latency.meets(p95) for rps, p95 in best_lists],
        clearly_missed=[
            rate.clearly_misses(rps) or latency.clearly_misses(p95) for rps, p95 in best_lists
        ],
        quiet=quiet,
    )
    uncached = figures["uncached"][UNCACHED]
    shares = [
        shop / bare if bare else 0.0
        for shop, bare in zip(
            uncached["repeats"]["requests_per_s"],
            uncached["bare"]["bare list"]["repeats"]["requests_per_s"],
            strict=True,
        )
    ]
    return [
        judge(
            slowest_p95,
            latency,
            quiet=quiet,
            claim="API response < 100ms (p95)",
            measured=f"worst p95 of the four runs, round by round: {rounds(slowest_p95)} ms",
            section=NAME,
        ),
        judge(
            fewest,
            Target(TARGET_RPS),
            quiet=quiet,
            claim="Throughput > 1000 RPS",
            measured=f"fewest requests/s of the four runs, round by round: {rounds(fewest, 0)}",
            section=NAME,
        ),
        judge(
            [query_p95],
            Target(QUERY_P95_MS, at_least=False),
            quiet=quiet,
            claim="Query time < 50ms (p95)",
            measured=f"worst p95 of a statement over every round {fmt(query_p95, 2)} ms",
            section=NAME,
        ),
        judge(
            [hits / reads if reads else 0.0],
            Target(HIT_RATE),
            quiet=quiet,
            claim="Cache hit rate > 80%",
            measured=f"the product list runs' catalog answers: {fmt(reads, 0)}, "
            f"{fmt(100 * hits / reads if reads else 0)}% from the cache",
            section=NAME,
        ),
        judge(
            [memory],
            Target(MEMORY_MB, at_least=False),
            quiet=quiet,
            claim="Memory < 500MB/pod",
            measured=f"largest worker process {fmt(memory)} MiB resident after the run",
            section=NAME,
        ),
        Verdict(
            "project target: product list at 1,000 requests/s or more with p95 < 100 ms on 2 cores",
            "best product list run, round by round: "
            + ", ".join(
                f"{fmt(rps, 0)} requests/s with p95 {fmt(p95)} ms" for rps, p95 in best_lists
            ),
            project,
            "",
            NAME,
        ),
        judge(
            shares,
            Target(UNCACHED_SHARE),
            quiet=quiet,
            claim=f"project target: product list without the cache at {UNCACHED_SHARE}x bare "
            "Django's list or more",
            measured=f"{UNCACHED}, requests/s over bare Django's list under WSGI, round by "
            f"round: {rounds(shares, 2)}",
            section=NAME,
        ),
    ]


def markdown(figures: dict[str, Any]) -> str:
    """Write the scenario's tables.

    Args:
        figures: What :func:`run` measured, with the SQL timings.

    Returns:
        Markdown.
    """
    runs = {**figures["runs"], **figures["uncached"]}
    per_request = table(
        ["run", "SQL statements per request", "SQL p50 ms", "SQL p95 ms", "cache reads", "hits"],
        [
            [
                label,
                fmt(run["queries_per_request"]),
                fmt(figures["queries"].get(label, {}).get("p50_ms"), 2),
                fmt(figures["queries"].get(label, {}).get("p95_ms"), 2),
                fmt(run["cache_hits"] + run["cache_misses"], 0),
                fmt(run["cache_hits"], 0),
            ]
            for label, run in runs.items()
        ],
    )
    memory = ", ".join(f"{fmt(mb)} MiB" for mb in figures["worker_rss_mb"])
    return (
        f"{table(LOAD_HEADER, load_rows(runs))}\n\n{LOAD_NOTE}\n\n{per_request}\n\n"
        f"SQL statements per request, SQL timings and cache reads: over every round (n/a: the "
        f"run's route ran no statement, every answer came from the cache). "
        f"Resident memory of each worker process after the run: {memory}."
    )


def plot(figures: dict[str, Any], path: Path, *, note: str = "") -> None:
    """Draw requests/s, p95 and SQL p95 of each run against the seed's thresholds.

    Args:
        figures: What :func:`run` measured, with the SQL timings.
        path: The PNG to write.
        note: Written under the title.
    """
    runs = {**figures["runs"], **figures["uncached"]}
    short = {label: label.replace(" (ASGI)", "").replace(", ", "\n") for label in runs}
    panels = {
        "requests/s": {short[k]: rounds_of(v, "requests_per_s") for k, v in runs.items()},
        "p95 ms": {short[k]: rounds_of(v, "p95_ms") for k, v in runs.items()},
        "SQL statement p95 ms": {
            short[k]: figures["queries"].get(k, {}).get("p95_ms", 0.0) for k in runs
        },
    }
    targets = {
        "requests/s": TARGET_RPS,
        "p95 ms": TARGET_P95_MS,
        "SQL statement p95 ms": QUERY_P95_MS,
    }
    bars(
        path,
        title="Seed baselines (dashed: the seed's threshold)",
        panels=panels,
        targets=targets,
        note=note,
    )
