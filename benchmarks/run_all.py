"""Run every benchmark scenario on the native stack; write the results, tables and plots.

One command (``make bench``, or ``make bench QUICK=1`` for a few seconds per scenario):

1. it waits once for the load average to fall (not in quick mode), then judges each scenario
   on its own (:class:`common.Watch`): it waits for a steady core, counts other processes' CPU
   time and steal while it measures, and times a fixed loop before and after; a scenario taken
   on a busy machine is measured again, :data:`ATTEMPTS` times at most, so that a few quiet
   minutes are enough for one scenario's table;
2. a throwaway native stack (PostgreSQL, PgBouncer, Redis), migrated, with the demo catalog;
3. the fake partners (card gateway, shipping, fraud) in their own process, answering after
   ``--partner-latency-ms``;
4. the shop under granian, 2 worker processes, through PgBouncer, with the deploy files' server
   commands and settings (ASGI; DRF's scenarios also under WSGI, as it ships), loaded by wrk
   (one client thread) on the same machine; bare Django (:mod:`bare_django`) under the same
   kind of server beside every load run, measured in the same run;
5. the scenarios: ``gather``, ``apis``, ``connections``, ``baselines``, ``orders``,
   ``observability``, ``tasks``; every cell measured in ``rounds`` rounds (median and range),
   each comparison's baseline measured again in each attempt of its scenario;
6. ``results.json`` (with the machine's description), and per scenario a Markdown table with
   its verdicts and a PNG plot, in ``--out`` (``docs/assets/benchmarks`` by default); each
   scenario's Markdown file begins with its own :func:`common.taken_on` line, which says when
   the machine was busy, and the run's files with a line that names the scenarios measured
   again or busy;
7. the loop's median of each quiet scenario, kept in ``common.LOOP_REFERENCE`` when it is the
   fastest this CPU model has run it: the yardstick by which the next runs tell a slowed-down
   machine (:data:`common.SLOW_CORE`).

Client and server share the machine's cores: every figure is for both on the same cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
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
    quiet_load,
    record_loop_ms,
    running_bench,
    taken_on,
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
ATTEMPTS = 3
"""Times a full run measures one scenario at most: again while the machine was busy during it."""


@dataclass
class Measured:
    """One scenario's figures, and the watch of the attempt that took them."""

    figures: dict[str, Any]
    watch: Watch
    attempts: int


def measured_alone(
    name: str,
    measure: Callable[[], dict[str, Any]],
    *,
    attempts: int,
    wait: bool,
    progress: Progress,
) -> Measured:
    """Measure one scenario, again while the machine was busy during it.

    Args:
        name: The scenario, for the progress lines.
        measure: Runs it and returns its figures.
        attempts: How many times at most; the last attempt is kept, busy or not.
        wait: Wait for a steady core before each attempt (not in quick mode); not for the load
            average, which the run's own servers weigh on for minutes.
        progress: Where to report.

    Returns:
        The figures of the first quiet attempt, or of the last.
    """
    attempt = 1
    while True:
        watch = Watch(wait=wait, load=False)
        figures = measure()
        if watch.quiet or attempt >= attempts:
            return Measured(figures=figures, watch=watch, attempts=attempt)
        attempt += 1
        progress.say(
            name, f"the machine was busy meanwhile: measuring again ({attempt} of {attempts})"
        )


def with_own_baselines(bench: Bench, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one attempt of a scenario beside bare Django measured during that same attempt.

    Args:
        bench: The harness; the bare cells of earlier attempts are forgotten.
        run: The scenario.

    Returns:
        Its figures.
    """
    bench.baselines.clear()
    return run()


def http_scenarios(bench: Bench, *, attempts: int, wait: bool) -> dict[str, Measured]:
    """Run the scenarios that load app servers; the shop's SQL timings come when it stops.

    Args:
        bench: The harness, its server running.
        attempts: How many times at most each scenario is measured (:func:`measured_alone`).
        wait: Wait for a quiet machine before each attempt.

    Returns:
        Figures by scenario.
    """
    results: dict[str, Measured] = {}
    for module in HTTP_SCENARIOS:
        bench.progress.say(module.NAME, "start")
        if module is baselines:
            run = partial(baselines.run, bench, catalog=results[apis.NAME].figures["cpu"])
        else:
            run = partial(module.run, bench)
        results[module.NAME] = measured_alone(
            module.NAME,
            partial(with_own_baselines, bench, run),
            attempts=attempts,
            wait=wait,
            progress=bench.progress,
        )
    return results


def measure(
    *, budget: Budget, partner_latency_ms: int, progress: Progress, attempts: int, wait: bool
) -> dict[str, Measured]:
    """Start everything, run every scenario, stop everything.

    Args:
        budget: How long to measure.
        partner_latency_ms: How long the fake partners take to answer.
        progress: Where to report.
        attempts: How many times at most each scenario is measured.
        wait: Wait for a quiet machine before each attempt.

    Returns:
        Figures by scenario.
    """
    with bench_stack(partner_latency_ms=partner_latency_ms, progress=progress) as env:
        with running_bench(
            env, budget=budget, partner_latency_ms=partner_latency_ms, progress=progress
        ) as bench:
            results = http_scenarios(bench, attempts=attempts, wait=wait)
        baselines.add_query_times(results[baselines.NAME].figures, bench.query_times)
        results[tasks_throughput.NAME] = measured_alone(
            tasks_throughput.NAME,
            lambda: tasks_throughput.run(
                env=env,
                tasks=budget.tasks,
                live_seconds=budget.live_seconds,
                setups=tasks_throughput.setups(quick=budget == QUICK),
                rounds=budget.task_rounds,
                progress=progress,
            ),
            attempts=attempts,
            wait=wait,
            progress=progress,
        )
    return results


def run_quiet(results: dict[str, Measured], *, waited_quiet: bool) -> bool:
    """Whether a whole run was quiet: before it started, and during each scenario kept.

    Args:
        results: Every scenario's figures and watch.
        waited_quiet: Whether the load average fell before the run
            (:func:`common.wait_until_quiet`).

    Returns:
        True when all were.
    """
    return waited_quiet and all(item.watch.quiet for item in results.values())


def run_line(results: dict[str, Measured], *, header: dict[str, Any]) -> str:
    """The first line of the run's own files: the machine, and how each scenario went.

    Args:
        results: Every scenario's figures and watch.
        header: The run's description (:func:`main`): its load average before, its length,
            whether it was quiet.

    Returns:
        :func:`common.taken_on`'s sentence, then the scenarios measured again and those left
        busy; busy when any is.
    """
    again = [
        f"{name} ({item.attempts} times)" for name, item in results.items() if item.attempts > 1
    ]
    busy = [name for name, item in results.items() if not item.watch.quiet]
    said = "Each scenario was judged on its own; its table's first line says how quiet it was"
    if again:
        said += f"; measured again after a busy attempt: {', '.join(again)}"
    if busy:
        said += f"; busy still: {', '.join(busy)}"
    return taken_on(
        load_before=header["load_average_before"],
        quiet=header["quiet"],
        elapsed_s=header["elapsed_s"],
        note=f"{said}.",
    )


def publish(out: Path, *, results: dict[str, Measured], header: dict[str, Any]) -> None:
    """Write the JSON, each scenario's Markdown and plot, the run's description, the verdicts.

    Args:
        out: The folder.
        results: Figures and watch by scenario (each file's first line, each verdict).
        header: When, where and how the figures were taken.
    """
    out.mkdir(parents=True, exist_ok=True)
    first_line = run_line(results, header=header)
    every_verdict = []
    for module in SCENARIOS:
        item = results[module.NAME]
        verdicts = module.verdicts(item.figures, quiet=item.watch.quiet)
        every_verdict += verdicts
        parts = [item.watch.taken_on(), module.markdown(item.figures)]
        if verdicts:
            parts.append(report.verdict_lines(verdicts))
        (out / f"{module.NAME}.md.txt").write_text("\n\n".join(parts) + "\n")
        note = "" if item.watch.quiet else BUSY_NOTE
        module.plot(item.figures, out / f"{module.NAME}.png", note=note)
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
        out / "results.json",
        {
            **header,
            "scenarios": {
                name: {"quiet": item.watch.quiet, "attempts": item.attempts}
                for name, item in results.items()
            },
            "results": {name: item.figures for name, item in results.items()},
            "verdicts": every_verdict,
        },
    )


def replot(out: Path) -> None:
    """Draw each scenario's plot again from the ``results.json`` in ``out``; measure nothing.

    Args:
        out: The folder of a run (its ``results.json``).
    """
    report_file = json.loads((out / "results.json").read_text())
    # A run that judged the machine once for all its scenarios has no "scenarios".
    judged = report_file.get("scenarios", {})
    for module in SCENARIOS:
        quiet = judged.get(module.NAME, {"quiet": report_file["quiet"]})["quiet"]
        note = "" if quiet else BUSY_NOTE
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
    wait = not args.quick
    waited_quiet = quiet_load(wait=wait)
    load_before = load_average()
    about = machine()
    taken_at = now_utc()
    budget = QUICK if args.quick else FULL
    results = measure(
        budget=budget,
        partner_latency_ms=args.partner_latency_ms,
        progress=progress,
        attempts=ATTEMPTS if wait else 1,
        wait=wait,
    )
    header = {
        "taken_at": taken_at,
        "mode": "quick" if args.quick else "full",
        "elapsed_s": progress.elapsed(),
        "machine": about,
        "quiet": run_quiet(results, waited_quiet=waited_quiet),
        "waited_quiet": waited_quiet,
        "load_average_before": load_before,
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
    publish(args.out, results=results, header=header)
    for item in results.values():  # the loop's speed on a quiet machine: the next runs' yardstick
        if item.watch.quiet:
            record_loop_ms(item.watch.cpu, item.watch.cpu_ms)
    progress.say("done", f"results, tables and plots in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
