"""Scenario ``tasks``: throughput and latency of RQ worker kinds and counts; the outbox's cost.

For each worker set-up it measures, with real worker processes (``manage.py run_worker``):

- **drain**: N ``echo`` tasks enqueued first, then the workers start; tasks per minute from the
  first start to the last end (RQ's own timestamps);
- **live**: workers running, tasks enqueued at a fixed rate of half the drain rate (below
  capacity, so the queue stays short and the latency is the system's, not a backlog's);
  enqueue-to-done latency per task, from the ``enqueue()`` call to RQ's ``ended_at``.

The set-ups: one and two separate simple workers, one forking worker (RQ's default), and the
shipped one: the command and environment of the Kubernetes worker Deployment, read from
``deploy/k8s/worker-deployment.yaml`` (Compose runs the same command per queue), on the critical
queue. The verdicts are judged on the shipped set-up.

Each set-up is measured in several rounds: the table shows the median and the range. And the
price of the outbox: enqueues per second through ``django.tasks`` (outbox row + push after
commit) against a bare RQ ``enqueue`` of the same job.

Part of ``run_all.py``; alone: ``uv run python benchmarks/tasks_throughput.py [--tasks 2000]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from common import FULL, MANAGE, ROOT, Progress, latency_ms, prepared_stack, spread
from report import Target, Verdict, bars, fmt, judge, rounds_of, table, verdict_word

from fashionistar_dev.processes import free_port

NAME = "tasks"
K8S_WORKER = ROOT / "deploy" / "k8s" / "worker-deployment.yaml"
QUIET_WORKER = {"DJANGO_LOG_LEVEL": "WARNING", "LOG_LEVEL": "WARNING"}
"""The environment of the set-ups that are not the shipped one: no log line per task."""


@dataclass(frozen=True)
class WorkerSetup:
    """Workers to measure: ``commands`` separate ``run_worker critical`` processes.

    Attributes:
        name: The row's name.
        options: ``run_worker``'s options after the queue.
        commands: How many such processes run side by side.
        environment: Added to the application's environment.
        shipped: Whether this is the deploy files' set-up (the verdicts' one).
    """

    name: str
    options: tuple[str, ...]
    commands: int = 1
    environment: dict[str, str] = field(default_factory=lambda: dict(QUIET_WORKER))
    shipped: bool = False


def shipped_setup() -> WorkerSetup:
    """The worker command and environment of the Kubernetes Deployment, on the critical queue.

    Its metrics port becomes a free one and its multiprocess directory a new temporary one.

    Returns:
        The set-up.
    """
    deployment = yaml.safe_load(K8S_WORKER.read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    options = tuple(command[command.index("run_worker") + 1 :])
    environment = {item["name"]: str(item["value"]) for item in container["env"]}
    environment["TASK_WORKER_METRICS_PORT"] = str(free_port())
    environment["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-worker-metrics-")
    return WorkerSetup(
        name=f"shipped: run_worker {' '.join(options)}",
        options=options,
        environment=environment,
        shipped=True,
    )


def setups(*, quick: bool) -> list[WorkerSetup]:
    """The set-ups to measure, the shipped one last.

    Args:
        quick: Only the shipped set-up.

    Returns:
        The set-ups.
    """
    if quick:
        return [shipped_setup()]
    return [
        WorkerSetup("1 x simple", ("--kind", "simple")),
        WorkerSetup("2 x simple", ("--kind", "simple"), commands=2),
        WorkerSetup("1 x fork", ("--kind", "fork")),
        shipped_setup(),
    ]


LIVE_SHARE = 0.5
"""The live phase enqueues at this share of the measured drain rate."""


def start_workers(setup: WorkerSetup, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """Start a set-up's workers on the critical queue.

    Args:
        setup: The set-up.
        env: The application's environment.

    Returns:
        The processes.
    """
    return [
        subprocess.Popen(
            [*MANAGE, "run_worker", "critical", *setup.options],
            env={**env, **setup.environment},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(setup.commands)
    ]


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    """Stop workers (SIGTERM: RQ finishes the current job first).

    Args:
        workers: The processes.
    """
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()  # a worker that does not stop must not outlive the run
            worker.wait()


def enqueue(count: int, *, rate: float | None = None) -> tuple[list[str], list[float], float]:
    """Enqueue ``count`` echo tasks through django.tasks, as fast as possible or at a rate.

    Args:
        count: How many.
        rate: Enqueues per second to keep to; ``None`` for as fast as one process can.

    Returns:
        The task ids, the wall-clock time of each ``enqueue()`` call, and the rate reached.
    """
    from fashionistar.tasks.probe import echo

    ids, called = [], []
    started = time.perf_counter()
    for n in range(count):
        if rate is not None:
            time.sleep(max(0.0, started + n / rate - time.perf_counter()))
        called.append(time.time())
        ids.append(echo.enqueue(value=n).id)
    return ids, called, count / (time.perf_counter() - started)


def wait_done(ids: list[str], timeout_s: float = 600) -> list[Any]:
    """Wait until every job finished; return the jobs.

    It watches the size of the queue's finished-job registry (one ``ZCARD``) and fetches the
    jobs once at the end: fetching every job at each look took a share of the two cores from
    the workers it measures.

    Args:
        ids: The task (job) ids, all of them ``echo`` tasks enqueued since :func:`flush`.
        timeout_s: Seconds to wait at most.

    Returns:
        The RQ jobs.

    Raises:
        TimeoutError: They did not all finish in time.
    """
    from django.tasks import task_backends
    from rq.job import Job

    from fashionistar.tasks.probe import echo

    backend = task_backends["default"]
    finished = backend.rq_queue(echo.queue_name).finished_job_registry
    deadline = time.monotonic() + timeout_s
    while finished.get_job_count(cleanup=False) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError("tasks did not finish")
        time.sleep(0.2)
    jobs = Job.fetch_many(ids, connection=backend.connection)
    if not all(job is not None and job.get_status(refresh=False) == "finished" for job in jobs):
        raise TimeoutError("tasks did not finish")
    return jobs


def flush() -> None:
    """Empty Redis and the outbox between runs."""
    from django.tasks import task_backends

    from fashionistar.tasks.models import OutboxEntry

    task_backends["default"].connection.flushdb()
    OutboxEntry.objects.all().delete()


def _seconds(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def run_setup(
    setup: WorkerSetup, *, tasks: int, live_seconds: float, env: dict[str, str]
) -> dict[str, Any]:
    """Measure drain throughput, then latency at half that rate, for one worker set-up.

    Args:
        setup: The workers.
        tasks: Tasks to drain.
        live_seconds: Length of the fixed-rate phase.
        env: The application's environment.

    Returns:
        Tasks per minute, the live rate asked and reached, enqueue-to-done percentiles.
    """
    flush()
    ids, _, _ = enqueue(tasks)
    workers = start_workers(setup, env)
    try:
        jobs = wait_done(ids)
        first = min(job.started_at for job in jobs)
        last = max(job.ended_at for job in jobs)
        per_second = tasks / (last - first).total_seconds()
        flush()
        rate = LIVE_SHARE * per_second
        ids, called, reached = enqueue(max(1, round(rate * live_seconds)), rate=rate)
        jobs = wait_done(ids)
    finally:
        stop(workers)
    latencies = [_seconds(job.ended_at) - at for job, at in zip(jobs, called, strict=True)]
    return {
        "tasks_per_minute": 60 * per_second,
        "live_rate_per_s": rate,
        "live_rate_reached_per_s": reached,
        **latency_ms(latencies),
    }


def outbox_cost(tasks: int) -> dict[str, float]:
    """Enqueues per second: django.tasks with the outbox vs a bare RQ enqueue.

    Args:
        tasks: Enqueues of each kind.

    Returns:
        Both rates.
    """
    from django.tasks import task_backends

    from fashionistar.tasks.backend import run_task
    from fashionistar.tasks.probe import echo

    flush()
    _, _, with_outbox = enqueue(tasks)
    flush()
    queue = task_backends["default"].rq_queue("critical")
    started = time.perf_counter()
    for n in range(tasks):
        queue.enqueue(run_task, echo.module_path, [], {"value": n})
    bare = tasks / (time.perf_counter() - started)
    flush()
    return {"outbox_enqueues_per_s": with_outbox, "bare_rq_enqueues_per_s": bare}


def run(
    *,
    env: dict[str, str],
    tasks: int,
    live_seconds: float,
    setups: list[WorkerSetup],
    rounds: int,
    progress: Progress,
) -> dict[str, Any]:
    """Measure every set-up in rounds, and the outbox's cost (Django set up on ``env``).

    Args:
        env: The application's environment.
        tasks: Tasks per drain.
        live_seconds: Length of each fixed-rate phase.
        setups: The worker set-ups, from :func:`setups`.
        rounds: Measurements of each set-up.
        progress: Where to report.

    Returns:
        ``{"tasks", "setups": {name: figures}, "shipped": name, "outbox": {...}}``; each
        set-up's figures are the medians of its rounds, with each round's under ``repeats``.
    """
    results = {}
    for setup in setups:
        name = setup.name
        progress.say(
            NAME,
            f"{name}: {rounds} rounds of a {tasks}-task drain, then {live_seconds} s at half rate",
        )
        each = [
            run_setup(setup, tasks=tasks, live_seconds=live_seconds, env=env) for _ in range(rounds)
        ]
        figures: dict[str, Any] = {
            key: statistics.median(one[key] for one in each) for key in each[0]
        }
        figures["repeats"] = {
            key: [one[key] for one in each] for key in ("tasks_per_minute", "p95_ms")
        }
        results[name] = figures
        progress.say(
            NAME,
            f"{name}: {figures['tasks_per_minute']:.0f} tasks/min, enqueue-to-done "
            f"p95 {figures['p95_ms']:.0f} ms at {figures['live_rate_reached_per_s']:.0f}/s",
        )
    (shipped,) = (setup.name for setup in setups if setup.shipped)
    return {"tasks": tasks, "setups": results, "shipped": shipped, "outbox": outbox_cost(tasks)}


def verdicts(figures: dict[str, Any], *, quiet: bool) -> list[Verdict]:
    """Judge the seed's throughput and latency, and the project's target, on the shipped set-up.

    Args:
        figures: What :func:`run` measured.
        quiet: Whether the machine was quiet.

    Returns:
        Three verdicts, each on every round of the set-up the deploy files run.
    """
    name = figures["shipped"]
    shipped = figures["setups"][name]
    per_minute, p95 = shipped["repeats"]["tasks_per_minute"], shipped["repeats"]["p95_ms"]

    def rounds(values: list[float]) -> str:
        return ", ".join(fmt(value, 0) for value in values)

    measured = f"{name}, round by round: {rounds(per_minute)} tasks/min"
    latency = f"{measured}; enqueue-to-done p95 {rounds(p95)} ms at half that rate"
    rate, fast = Target(30_000), Target(1000, at_least=False)
    project = verdict_word(
        met=[rate.meets(r) and fast.meets(p) for r, p in zip(per_minute, p95, strict=True)],
        clearly_missed=[
            rate.clearly_misses(r) or fast.clearly_misses(p)
            for r, p in zip(per_minute, p95, strict=True)
        ],
        quiet=quiet,
    )
    return [
        judge(
            per_minute,
            Target(10_000),
            quiet=quiet,
            claim="10,000+ tasks/minute throughput",
            measured=measured,
            section=NAME,
        ),
        judge(
            p95,
            Target(5000, at_least=False),
            quiet=quiet,
            claim="Task latency < 5s (p95)",
            measured=latency,
            section=NAME,
        ),
        Verdict(
            "project target: 30,000 tasks/minute and p95 < 1 s on 2 cores",
            latency,
            project,
            "",
            NAME,
        ),
    ]


def markdown(figures: dict[str, Any]) -> str:
    """Write the scenario's table.

    Args:
        figures: What :func:`run` measured.

    Returns:
        Markdown.
    """
    rows: list[list[object]] = [
        [
            name,
            spread(item["repeats"]["tasks_per_minute"], digits=0),
            f"{fmt(item['live_rate_per_s'], 0)} / {fmt(item['live_rate_reached_per_s'], 0)}",
            fmt(item["p50_ms"], 0),
            spread(item["repeats"]["p95_ms"], digits=0),
            fmt(item["p99_ms"], 0),
        ]
        for name, item in figures["setups"].items()
    ]
    outbox = figures["outbox"]
    return (
        table(
            [
                "workers",
                "tasks/min (drain)",
                "live enqueues/s asked / reached",
                "enqueue-to-done p50 ms",
                "p95 ms",
                "p99 ms",
            ],
            rows,
        )
        + "\n\nTasks/min and p95: the median of the rounds (lowest to highest); the other "
        "figures: the median of the rounds."
        + f" Enqueues from one process: {fmt(outbox['outbox_enqueues_per_s'], 0)}/s through "
        f"`django.tasks` with the outbox, {fmt(outbox['bare_rq_enqueues_per_s'], 0)}/s with a "
        f"bare RQ `enqueue` ({figures['tasks']} each)."
    )


def plot(figures: dict[str, Any], path: Path, *, note: str = "") -> None:
    """Draw tasks per minute and enqueue-to-done p95 per set-up.

    Args:
        figures: What :func:`run` measured.
        path: The PNG to write.
        note: Written under the title.
    """
    setups = figures["setups"]
    panels = {
        "tasks/minute (drain)": {k: rounds_of(v, "tasks_per_minute") for k, v in setups.items()},
        "enqueue-to-done p95 ms (half rate)": {
            k: rounds_of(v, "p95_ms") for k, v in setups.items()
        },
    }
    targets = {"tasks/minute (drain)": 30_000, "enqueue-to-done p95 ms (half rate)": 1000}
    bars(
        path,
        title="Tasks on RQ (dashed: the project's target)",
        panels=panels,
        targets=targets,
        note=note,
    )


def main() -> int:
    """Run the task scenario alone and print the figures.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=FULL.tasks)
    parser.add_argument("--live-seconds", type=float, default=FULL.live_seconds)
    parser.add_argument("--rounds", type=int, default=FULL.rounds)
    args = parser.parse_args()
    with prepared_stack() as env:
        os.environ.update(env)
        import django

        django.setup()
        figures = run(
            env=env,
            tasks=args.tasks,
            live_seconds=args.live_seconds,
            setups=setups(quick=False),
            rounds=args.rounds,
            progress=Progress(),
        )
    print(markdown(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
