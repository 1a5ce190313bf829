"""Run every benchmark scenario on the native stack; write the results, tables and plots.

One command (``make bench``, or ``make bench QUICK=1`` for a few seconds per scenario):

1. a throwaway native stack (PostgreSQL, PgBouncer, Redis), migrated, with the demo catalog;
2. the fake partners (card gateway, shipping, fraud) in their own process, answering after
   ``--partner-latency-ms``;
3. the shop under uvicorn, 2 worker processes, ASGI, through PgBouncer (the default set-up),
   with TCP_NODELAY (:mod:`serve_nodelay`), loaded by wrk (one client thread) on the same
   machine;
4. the scenarios: ``server``, ``gather``, ``apis``, ``connections``, ``baselines``, ``tasks``; each
   comparison runs its baseline in this same run;
5. ``results.json`` (with the machine's description), and per scenario a Markdown table with
   its verdicts and a PNG plot, in ``--out`` (``docs/assets/benchmarks`` by default).

Client and server share the machine's cores: every figure is for both on the same cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import apis
import baselines
import connections
import gather
import httpx
import report
import server
import tasks_throughput
from common import (
    FULL,
    QUICK,
    ROOT,
    AppServer,
    Bench,
    Progress,
    ensure_wrk,
    load_average,
    machine,
    now_utc,
    prepared_stack,
    slow_partners,
    wait_until_quiet,
)

DEMO_STOCK = 100_000_000
"""Deep stock, so that load runs never sell out."""
SCENARIOS: list[ModuleType] = [server, gather, apis, connections, baselines, tasks_throughput]
CONDITIONS = (
    "uvicorn {workers} worker processes (httptools, uvloop, TCP_NODELAY); wrk 1 thread, "
    "{connections} connections, {seconds} s per run after {warmup} s of warm-up; client and "
    "server share the {cores} cores; PostgreSQL, PgBouncer, Redis and the fake partners run on "
    "the same machine"
)


def http_scenarios(bench: Bench) -> dict[str, Any]:
    """Run the scenarios that load the app server; the SQL timings come when it stops.

    Args:
        bench: The harness, its server running.

    Returns:
        Figures by scenario.
    """
    results: dict[str, Any] = {}
    for module in (server, gather, apis, connections):
        bench.progress.say(module.NAME, "start")
        results[module.NAME] = module.run(bench)
    bench.progress.say(baselines.NAME, "start")
    results[baselines.NAME] = baselines.run(bench, catalog=results[apis.NAME]["cpu"])
    return results


def demo_fixtures(base_url: str) -> tuple[str, list[int]]:
    """Log the demo customer in and list every demo variant.

    Args:
        base_url: The app server.

    Returns:
        The API token and the variant ids.
    """
    from fashionistar.catalog.models import Variant
    from fashionistar_dev.demo import DEMO_PASSWORD, DEMO_USERNAME

    answer = httpx.post(
        f"{base_url}/api/sync/auth/token",
        json={"username": DEMO_USERNAME, "password": DEMO_PASSWORD},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()["token"], list(Variant.objects.order_by("pk").values_list("pk", flat=True))


def measure(*, quick: bool, partner_latency_ms: int, progress: Progress) -> dict[str, Any]:
    """Start everything, run every scenario, stop everything.

    Args:
        quick: A few seconds per scenario.
        partner_latency_ms: How long the fake partners take to answer.
        progress: Where to report.

    Returns:
        Figures by scenario.
    """
    budget = QUICK if quick else FULL
    progress.say("setup", "native stack, migrations, demo catalog")
    with (
        prepared_stack(demo_stock=DEMO_STOCK) as stack_env,
        slow_partners(latency_ms=partner_latency_ms) as partners,
    ):
        env = {**stack_env, "PAYMENT_GATEWAY_URL": partners}
        os.environ.update(env)
        import django

        django.setup()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
        progress.say("setup", f"app server: uvicorn, {budget.workers} worker(s), ASGI, PgBouncer")
        with AppServer(env, workers=budget.workers) as app_server:
            token, variant_ids = demo_fixtures(app_server.url)
            bench = Bench(env, budget, progress, app_server, token, variant_ids, partner_latency_ms)
            results = http_scenarios(bench)
        baselines.add_query_times(results[baselines.NAME], app_server.query_times())
        app_server.cleanup()
        results[tasks_throughput.NAME] = tasks_throughput.run(
            env=env,
            tasks=budget.tasks,
            live_seconds=budget.live_seconds,
            setups=tasks_throughput.QUICK_SETUPS if quick else tasks_throughput.SETUPS,
            progress=progress,
        )
    return results


def publish(out: Path, *, results: dict[str, Any], header: dict[str, Any]) -> None:
    """Write the JSON, each scenario's Markdown and plot, the run's description, the verdicts.

    Args:
        out: The folder.
        results: Figures by scenario.
        header: When, where and how the figures were taken.
    """
    out.mkdir(parents=True, exist_ok=True)
    every_verdict = []
    for module in SCENARIOS:
        figures = results[module.NAME]
        verdicts = module.verdicts(figures)
        every_verdict += verdicts
        text = module.markdown(figures) + "\n\n" + report.verdict_lines(verdicts) + "\n"
        (out / f"{module.NAME}.md.txt").write_text(text)
        module.plot(figures, out / f"{module.NAME}.png")
    (out / "verdicts.md.txt").write_text(report.verdict_table(every_verdict) + "\n")
    about = header["machine"]
    (out / "run.md.txt").write_text(
        f"Taken {header['taken_at']} ({header['mode']} mode, {header['elapsed_s']:.0f} s) on "
        f"{about['cores']} cores ({about['cpu']}), {about['memory']} of memory, "
        f"{about['platform']}, Python {about['python']}. Load average before the run "
        f"{', '.join(map(str, about['load_average']))}; after "
        f"{', '.join(map(str, header['load_average_after']))} (1, 5, 15 min: other work on "
        f"the machine shows here). {header['conditions']}.\n"
    )
    report.write_json(
        out / "results.json", {**header, "results": results, "verdicts": every_verdict}
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few seconds per scenario")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "assets" / "benchmarks")
    parser.add_argument("--partner-latency-ms", type=int, default=100)
    args = parser.parse_args(argv)
    ensure_wrk()
    progress = Progress()
    if not args.quick:  # a quick run checks the harness (the test suite runs it), not the shop
        wait_until_quiet()
    about = machine()
    taken_at = now_utc()
    results = measure(
        quick=args.quick, partner_latency_ms=args.partner_latency_ms, progress=progress
    )
    budget = QUICK if args.quick else FULL
    header = {
        "taken_at": taken_at,
        "mode": "quick" if args.quick else "full",
        "elapsed_s": progress.elapsed(),
        "machine": about,
        "load_average_after": load_average(),
        "budget": budget,
        "partner_latency_ms": args.partner_latency_ms,
        "conditions": CONDITIONS.format(
            workers=budget.workers,
            connections=budget.connections,
            seconds=budget.seconds,
            warmup=budget.warmup,
            cores=about["cores"],
        ),
    }
    publish(args.out, results=results, header=header)
    progress.say("done", f"results, tables and plots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
