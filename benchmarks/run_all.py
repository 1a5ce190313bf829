"""Run every benchmark scenario on the native stack; write the results, tables and plots.

One command (``make bench``, or ``make bench QUICK=1`` for a few seconds per scenario):

1. it waits for the machine to be quiet (:class:`common.Watch`; not in quick mode), and times
   a fixed loop again after each scenario: a core that slowed down meanwhile marks the run busy;
2. a throwaway native stack (PostgreSQL, PgBouncer, Redis), migrated, with the demo catalog;
3. the fake partners (card gateway, shipping, fraud) in their own process, answering after
   ``--partner-latency-ms``;
4. the shop under granian, 2 worker processes, through PgBouncer, with the deploy files' server
   commands and settings (ASGI; DRF's scenarios also under WSGI, as it ships), loaded by wrk
   (one client thread) on the same machine; bare Django (:mod:`bare_django`) under the same
   kind of server beside every load run, measured in the same run;
5. the scenarios: ``gather``, ``apis``, ``connections``, ``baselines``, ``orders``,
   ``observability``, ``tasks``; every cell measured in ``rounds`` rounds (median and range),
   each comparison's baseline in this same run;
6. ``results.json`` (with the machine's description), and per scenario a Markdown table with
   its verdicts and a PNG plot, in ``--out`` (``docs/assets/benchmarks`` by default); every
   Markdown file begins with the run's :func:`common.taken_on` line, which says when the
   machine was busy.

Client and server share the machine's cores: every figure is for both on the same cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import apis
import baselines
import connections
import gather
import observability_overhead
import order_rate
import report
import tasks_throughput
from common import (
    FULL,
    QUICK,
    ROOT,
    Bench,
    Budget,
    Progress,
    Watch,
    bench_stack,
    ensure_wrk,
    load_average,
    machine,
    now_utc,
    running_bench,
)

from fashionistar_dev.processes import WSGI_THREADS

HTTP_SCENARIOS: list[ModuleType] = [
    gather,
    apis,
    connections,
    baselines,
    order_rate,
    observability_overhead,
]
SCENARIOS: list[ModuleType] = [*HTTP_SCENARIOS, tasks_throughput]
CONDITIONS = (
    "granian {workers} worker processes (the deploy files' commands; under WSGI, {threads} "
    "threads each); wrk 1 thread, "
    "{connections} connections, {rounds} rounds of {seconds} s per cell after {warmup} s of "
    "warm-up; client and server share the {cores} cores; PostgreSQL, PgBouncer, Redis and the "
    "fake partners run on the same machine"
)
BUSY_NOTE = "taken on a busy machine: not comparable"


def http_scenarios(bench: Bench, *, watch: Watch) -> dict[str, Any]:
    """Run the scenarios that load app servers; the shop's SQL timings come when it stops.

    Args:
        bench: The harness, its server running.
        watch: Times the loop after each scenario (:meth:`common.Watch.probe`).

    Returns:
        Figures by scenario.
    """
    results: dict[str, Any] = {}
    for module in HTTP_SCENARIOS:
        bench.progress.say(module.NAME, "start")
        if module is baselines:
            results[module.NAME] = baselines.run(bench, catalog=results[apis.NAME]["cpu"])
        else:
            results[module.NAME] = module.run(bench)
        watch.probe()
    return results


def measure(
    *, budget: Budget, partner_latency_ms: int, progress: Progress, watch: Watch
) -> dict[str, Any]:
    """Start everything, run every scenario, stop everything.

    Args:
        budget: How long to measure.
        partner_latency_ms: How long the fake partners take to answer.
        progress: Where to report.
        watch: Whether the machine stays quiet, probed between scenarios.

    Returns:
        Figures by scenario.
    """
    with bench_stack(partner_latency_ms=partner_latency_ms, progress=progress) as env:
        with running_bench(
            env, budget=budget, partner_latency_ms=partner_latency_ms, progress=progress
        ) as bench:
            results = http_scenarios(bench, watch=watch)
        baselines.add_query_times(results[baselines.NAME], bench.query_times)
        results[tasks_throughput.NAME] = tasks_throughput.run(
            env=env,
            tasks=budget.tasks,
            live_seconds=budget.live_seconds,
            setups=tasks_throughput.setups(quick=budget == QUICK),
            rounds=budget.task_rounds,
            progress=progress,
        )
    return results


def publish(out: Path, *, results: dict[str, Any], header: dict[str, Any], watch: Watch) -> None:
    """Write the JSON, each scenario's Markdown and plot, the run's description, the verdicts.

    Args:
        out: The folder.
        results: Figures by scenario.
        header: When, where and how the figures were taken.
        watch: Whether the machine was quiet (every file's first line, every verdict).
    """
    out.mkdir(parents=True, exist_ok=True)
    first_line = watch.taken_on()
    note = "" if watch.quiet else BUSY_NOTE
    every_verdict = []
    for module in SCENARIOS:
        figures = results[module.NAME]
        verdicts = module.verdicts(figures, quiet=watch.quiet)
        every_verdict += verdicts
        parts = [first_line, module.markdown(figures)]
        if verdicts:
            parts.append(report.verdict_lines(verdicts))
        (out / f"{module.NAME}.md.txt").write_text("\n\n".join(parts) + "\n")
        module.plot(figures, out / f"{module.NAME}.png", note=note)
    (out / "verdicts.md.txt").write_text(f"{first_line}\n\n{report.verdict_table(every_verdict)}\n")
    about = header["machine"]
    (out / "run.md.txt").write_text(
        f"{first_line}\n\n{header['mode'].capitalize()} mode; {about['memory']} of memory, "
        f"{about['platform']}. Load average before the run "
        f"{', '.join(map(str, header['load_average_before']))}; after "
        f"{', '.join(map(str, header['load_average_after']))} (1, 5, 15 min). "
        f"{header['conditions']}.\n"
    )
    report.write_json(
        out / "results.json", {**header, "results": results, "verdicts": every_verdict}
    )


def replot(out: Path) -> None:
    """Draw each scenario's plot again from the ``results.json`` in ``out``; measure nothing.

    Args:
        out: The folder of a run (its ``results.json``).
    """
    report_file = json.loads((out / "results.json").read_text())
    note = "" if report_file["quiet"] else BUSY_NOTE
    for module in SCENARIOS:
        module.plot(report_file["results"][module.NAME], out / f"{module.NAME}.png", note=note)


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
    parser.add_argument(
        "--replot", action="store_true", help="draw the plots again from --out's results.json"
    )
    args = parser.parse_args(argv)
    if args.replot:
        replot(args.out)
        return 0
    ensure_wrk()
    progress = Progress()
    # A quick run checks the harness (the test suite runs it), not the shop: it does not wait.
    watch = Watch(wait=not args.quick)
    about = machine()
    taken_at = now_utc()
    budget = QUICK if args.quick else FULL
    results = measure(
        budget=budget, partner_latency_ms=args.partner_latency_ms, progress=progress, watch=watch
    )
    watch.stop()
    header = {
        "taken_at": taken_at,
        "mode": "quick" if args.quick else "full",
        "elapsed_s": progress.elapsed(),
        "machine": about,
        "quiet": watch.quiet,
        "waited_quiet": watch.waited_quiet,
        "other_cores": watch.other_cores,
        "load_average_before": watch.load_before,
        "load_average_after": load_average(),
        "budget": budget,
        "partner_latency_ms": args.partner_latency_ms,
        "conditions": CONDITIONS.format(
            workers=budget.workers,
            threads=WSGI_THREADS,
            connections=budget.connections,
            rounds=budget.rounds,
            seconds=budget.seconds,
            warmup=budget.warmup,
            cores=about["cores"],
        ),
    }
    publish(args.out, results=results, header=header, watch=watch)
    progress.say("done", f"results, tables and plots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
