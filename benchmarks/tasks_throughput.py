"""Task throughput and latency on the native stack: RQ worker kinds and counts, outbox cost.

For each worker set-up it measures, with real worker processes (``manage.py run_worker``):

- **drain**: N ``echo`` tasks enqueued first, then the workers start; tasks per minute from the
  first start to the last end (RQ's own timestamps);
- **live**: workers running, N tasks enqueued as fast as one process can; enqueue-to-done
  latency per task (p50, p95) from RQ's ``enqueued_at`` and ``ended_at``.

And the price of the outbox: enqueues per second through ``django.tasks`` (outbox row + push
after commit) against a bare RQ ``enqueue`` of the same job.

Usage: ``uv run python benchmarks/tasks_throughput.py [--tasks 3000] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import MANAGE, ROOT, machine, percentile, prepared_stack

SETUPS = [("simple", 1), ("simple", 2), ("simple", 3), ("fork", 2)]


def start_workers(kind: str, count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` workers of a kind on the critical queue."""
    return [
        subprocess.Popen(
            [*MANAGE, "run_worker", "critical", "--kind", kind],
            env={**env, "DJANGO_LOG_LEVEL": "WARNING"},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    """Stop workers (SIGTERM: RQ finishes the current job first)."""
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=30)


def enqueue(count: int) -> tuple[list[str], float]:
    """Enqueue ``count`` echo tasks through django.tasks; return their ids and enqueues/s."""
    from fashionistar.tasks.probe import echo

    started = time.perf_counter()
    ids = [echo.enqueue(value=n).id for n in range(count)]
    return ids, count / (time.perf_counter() - started)


def wait_done(ids: list[str], timeout_s: float = 600) -> list[object]:
    """Wait until every job finished; return the jobs."""
    from django.tasks import task_backends
    from rq.job import Job

    connection = task_backends["default"].connection
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = Job.fetch_many(ids, connection=connection)
        if all(job is not None and job.get_status(refresh=False) == "finished" for job in jobs):
            return jobs
        if time.monotonic() > deadline:
            raise TimeoutError("tasks did not finish")
        time.sleep(0.2)


def flush() -> None:
    """Empty Redis and the outbox between runs."""
    from django.tasks import task_backends

    from fashionistar.tasks.models import OutboxEntry

    task_backends["default"].connection.flushdb()
    OutboxEntry.objects.all().delete()


def run_setup(kind: str, count: int, tasks: int, env: dict[str, str]) -> dict[str, float]:
    """Measure drain throughput and live latency for one worker set-up."""
    flush()
    ids, _ = enqueue(tasks)
    workers = start_workers(kind, count, env)
    try:
        jobs = wait_done(ids)
        first = min(job.started_at for job in jobs)
        last = max(job.ended_at for job in jobs)
        per_minute = 60 * tasks / (last - first).total_seconds()
        flush()
        ids, enqueue_rate = enqueue(tasks)
        jobs = wait_done(ids)
    finally:
        stop(workers)
    latencies = [(job.ended_at - job.enqueued_at).total_seconds() for job in jobs]
    return {
        "tasks_per_minute": per_minute,
        "live_enqueues_per_s": enqueue_rate,
        "latency_p50_s": statistics.median(latencies),
        "latency_p95_s": percentile(latencies, 0.95),
    }


def outbox_cost(tasks: int) -> dict[str, float]:
    """Enqueues per second: django.tasks with the outbox vs a bare RQ enqueue."""
    from django.tasks import task_backends

    from fashionistar.tasks.backend import run_task
    from fashionistar.tasks.probe import echo

    flush()
    _, with_outbox = enqueue(tasks)
    flush()
    queue = task_backends["default"].rq_queue("critical")
    started = time.perf_counter()
    for n in range(tasks):
        queue.enqueue(run_task, echo.module_path, [], {"value": n})
    bare = tasks / (time.perf_counter() - started)
    flush()
    return {"outbox_enqueues_per_s": with_outbox, "bare_rq_enqueues_per_s": bare}


def main() -> int:
    """Run every set-up and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with prepared_stack() as env:
        os.environ.update(env)
        import django

        django.setup()
        results = {}
        for kind, count in SETUPS:
            name = f"{count} x {kind}"
            figures = run_setup(kind, count, args.tasks, env)
            results[name] = figures
            print(
                f"{name:10} {figures['tasks_per_minute']:9.0f} tasks/min  "
                f"enqueue-to-done p50 {figures['latency_p50_s']:.3f} s "
                f"p95 {figures['latency_p95_s']:.3f} s  "
                f"(live enqueue {figures['live_enqueues_per_s']:.0f}/s)",
                flush=True,
            )
        cost = outbox_cost(args.tasks)
        print(
            f"enqueue from one process: {cost['outbox_enqueues_per_s']:.0f}/s with the outbox, "
            f"{cost['bare_rq_enqueues_per_s']:.0f}/s bare RQ"
        )
    report = {"machine": machine(), "tasks": args.tasks, "setups": results, "outbox": cost}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
