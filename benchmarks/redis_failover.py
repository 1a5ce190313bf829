"""Redis Sentinel failover: how long it takes, and how many acknowledged writes it loses.

Starts a throwaway master, replica and three Sentinels (``fashionistar_dev.stack.redis_ha``, its
test timings), and for each scenario runs N failovers while writers hammer the master. Every
write is ``RPUSH <key> <n>`` from one thread, as fast as replies come; a write counts as
*acknowledged* when the call returned without error (in the ``WAIT 1 100`` variants, only when
``WAIT`` also reported one replica; a write that WAIT reports on no replica is counted as
*unconfirmed*). After the failover the new master's list is read back: an acknowledged ``n``
missing from it is a lost write. After each round the old master is back as a replica.

Scenarios:

* ``kill``: SIGKILL of the master (a crash). The writer follows Sentinel (the application's
  ``redis_client()``).
* ``pause``: SIGSTOP of the master until Sentinel names a new one, then SIGCONT (a stall, or a
  partition that heals). Two writers: one that follows Sentinel, and one pinned to the address
  the master had at start, as anything configured with a plain ``REDIS_URL`` is (Django's own
  ``RedisCache``). The old master wakes up still a master and takes writes until Sentinel
  turns it into a replica, which wipes them.

Each scenario runs without and with ``WAIT 1 100``; ``pause`` also runs with
``min-replicas-to-write 1`` on both nodes. Failover time is measured from the fault to the first
write the new master accepts (``RedisHA.wait_for_failover``).

``--capacity`` answers a different question, for the page's section on Redis Cluster: how many
Redis commands one RQ job costs (enqueue and a ``SimpleWorker`` run, counted with ``INFO``), and
how many simple commands one Redis serves here (``redis-benchmark``, 50 clients).

``--markdown FILE`` runs both and writes the page's tables there, the first line saying when and
on what machine they were taken.

Usage: ``uv run python benchmarks/redis_failover.py [--failovers 5] [--json out.json]``,
``uv run python benchmarks/redis_failover.py --capacity``, or for the Redis page
``uv run python benchmarks/redis_failover.py --markdown docs/assets/redis-failover.md.txt``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import django
import redis
from common import Watch
from django.conf import settings

from fashionistar_dev.stack.redis_ha import RedisHA, SentinelTimings, start_redis_ha

WRITE_BEFORE_S = 0.5
"""Writers run this long before the fault."""
WRITE_AFTER_S = 0.5
"""And this long after the failover (or after the old master became a replica)."""
TARGET_TASKS_PER_MINUTE = 30_000
"""The task rate the seed checklist aims for, which ``--capacity`` turns into Redis commands."""
BENCHMARK_CLIENTS = 50
"""redis-benchmark's parallel clients."""


@dataclass
class Writer:
    """A thread that writes ``RPUSH key n`` as fast as it can and remembers what was acked."""

    name: str
    client: redis.Redis
    key: str
    wait: bool
    acked: list[int] = field(default_factory=list)
    unconfirmed: list[int] = field(default_factory=list)
    errors: int = 0
    longest_gap_s: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def run(self) -> None:
        """Write until told to stop."""
        n = 0
        last_reply = time.perf_counter()
        while not self.stop.is_set():
            n += 1
            try:
                if self.wait:
                    # One round trip on one connection: WAIT counts this connection's writes.
                    pipe = self.client.pipeline(transaction=False)
                    pipe.rpush(self.key, n)
                    pipe.execute_command("WAIT", 1, 100)
                    _, replicas = pipe.execute()
                    confirmed = int(replicas) >= 1
                else:
                    self.client.rpush(self.key, n)
                    confirmed = True
            except redis.RedisError:
                self.errors += 1
                time.sleep(0.001)
                continue
            now = time.perf_counter()
            # The longest time without a write accepted by a master, as this writer saw it.
            self.longest_gap_s = max(self.longest_gap_s, now - last_reply)
            last_reply = now
            (self.acked if confirmed else self.unconfirmed).append(n)
        self.longest_gap_s = max(self.longest_gap_s, time.perf_counter() - last_reply)

    def start(self) -> None:
        """Start the thread."""
        self.thread = threading.Thread(target=self.run, name=self.name, daemon=True)
        self.thread.start()

    def finish(self) -> None:
        """Stop the thread and close the client."""
        self.stop.set()
        assert self.thread is not None
        self.thread.join()
        self.client.close()


@dataclass
class Round:
    """One failover."""

    failover_s: float
    writers: dict[str, dict[str, float]]


def sentinel_writer_client() -> redis.Redis:
    """The application's client: through Sentinel (``fashionistar.kernel.redis_client``)."""
    from fashionistar.kernel.redis_client import redis_client

    return redis_client()


def lost_writes(ha: RedisHA, writer: Writer) -> dict[str, float]:
    """Read the list back from the new master and count acknowledged writes missing."""
    with redis.Redis(*ha.master_address()) as master:
        present = {int(item) for item in master.lrange(writer.key, 0, -1)}
    return {
        "acked": len(writer.acked),
        "lost": sum(1 for n in writer.acked if n not in present),
        "unconfirmed": len(writer.unconfirmed),
        "unconfirmed_lost": sum(1 for n in writer.unconfirmed if n not in present),
        "errors": writer.errors,
        "longest_gap_s": round(writer.longest_gap_s, 3),
    }


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> float:
    """Poll ``condition`` every 10 ms; return the seconds it took."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return time.perf_counter() - started
        except redis.RedisError:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def is_replica(address: tuple[str, int]) -> bool:
    """Tell whether the node at ``address`` reports itself a replica."""
    with redis.Redis(*address, socket_timeout=1) as node:
        return bool(node.role()[0] == b"slave")


def one_round(ha: RedisHA, *, fault: str, wait: bool, key: str) -> Round:
    """Start the writers, make the fault, wait for the failover, count the losses."""
    old_master = ha.master_address()
    writers = [Writer("sentinel", sentinel_writer_client(), key + ":sentinel", wait)]
    if fault == "pause":
        pinned = redis.Redis(*old_master, socket_timeout=1, socket_connect_timeout=0.5)
        writers.append(Writer("pinned", pinned, key + ":pinned", wait))
    for writer in writers:
        writer.start()
    time.sleep(WRITE_BEFORE_S)
    extra: dict[str, float] = {}
    if fault == "kill":
        ha.kill_master()
        failover_s = ha.wait_for_failover()
    else:
        ha.pause_master()
        wait_for(lambda: ha.master_address() != old_master, "Sentinel names a new master")
        ha.resume_paused()
        resumed = time.perf_counter()
        # With min-replicas-to-write 1 the new master takes writes only once it has a replica
        # again: the old master, once Sentinel has demoted it and it has synced.
        failover_s = ha.wait_for_failover()
        # The old master is awake, and still a master until Sentinel demotes it.
        wait_for(lambda: is_replica(old_master), "the old master becomes a replica")
        extra["old_master_demoted_after_resume_s"] = round(time.perf_counter() - resumed, 2)
    time.sleep(WRITE_AFTER_S)
    for writer in writers:
        writer.finish()
    results = {writer.name: lost_writes(ha, writer) | extra for writer in writers}
    ha.restore_replica()
    return Round(failover_s=failover_s, writers=results)


def summary(values: list[float]) -> str:
    """Return ``min / median / max``."""
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


SCENARIOS = {
    "kill": ("kill, no WAIT", "kill", False, 0),
    "kill-wait": ("kill, WAIT 1 100", "kill", True, 0),
    "pause": ("pause, no WAIT", "pause", False, 0),
    "pause-wait": ("pause, WAIT 1 100", "pause", True, 0),
    "pause-min-replicas": ("pause, min-replicas-to-write 1", "pause", False, 1),
}
"""Scenario id: label, fault, WAIT 1 100 or not, min-replicas-to-write."""


def run_scenario(ha: RedisHA, name: str, failovers: int) -> list[Round]:
    """Run one scenario's failovers and print its figures."""
    label, fault, wait, _ = SCENARIOS[name]
    rounds = [
        one_round(ha, fault=fault, wait=wait, key=f"writes:{name}:{i}") for i in range(failovers)
    ]
    print(f"{label}: failover min/median/max {summary([r.failover_s for r in rounds])} s")
    for writer in rounds[0].writers:
        per = [r.writers[writer] for r in rounds]
        line = (
            f"  {writer:8} writer: acked {sum(int(p['acked']) for p in per):7}, "
            f"lost per failover {[int(p['lost']) for p in per]}, "
            f"longest time without an accepted write {summary([p['longest_gap_s'] for p in per])} s"
        )
        if wait:
            line += (
                f"\n           unconfirmed (WAIT saw no replica) per failover "
                f"{[int(p['unconfirmed']) for p in per]}, of which lost "
                f"{[int(p['unconfirmed_lost']) for p in per]}"
            )
        if "old_master_demoted_after_resume_s" in per[0]:
            demoted = [p["old_master_demoted_after_resume_s"] for p in per]
            line += f"\n           old master demoted {summary(demoted)} s after it woke up"
        print(line, flush=True)
    return rounds


def commands_processed(client: redis.Redis) -> int:
    """Return the server's count of commands processed so far."""
    return int(client.info("stats")["total_commands_processed"])


def capacity(jobs: int = 1000, requests: int = 200_000) -> dict[str, float]:
    """Count Redis commands per RQ job; measure simple commands per second of one Redis."""
    from rq import Queue, SimpleWorker

    with start_redis_ha() as ha:
        client = redis.Redis(*ha.master_address())
        queue = Queue("capacity", connection=client)
        before = commands_processed(client)
        for i in range(jobs):
            queue.enqueue(len, "x" * (i % 100))
        enqueued = commands_processed(client)
        SimpleWorker([queue], connection=client).work(burst=True, logging_level="WARNING")
        worked = commands_processed(client)
        # Each INFO call counts itself once.
        figures: dict[str, float] = {
            "commands_per_job_enqueue": (enqueued - before - 1) / jobs,
            "commands_per_job_worker": (worked - enqueued - 1) / jobs,
        }
        host, port = ha.master_address()
        output = subprocess.run(
            [
                *("redis-benchmark", "-h", host, "-p", str(port), "-q"),
                *("-n", str(requests), "-c", str(BENCHMARK_CLIENTS), "-t", "set,lpush,rpop"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        client.close()
    for line in output.replace("\r", "\n").splitlines():
        if "requests per second" in line:
            command, rest = line.split(":", 1)
            figures[f"{command.strip().lower()}_per_second"] = float(rest.split()[0])
    return figures


WRITERS = {"sentinel": "through Sentinel", "pinned": "pinned to `REDIS_URL`"}
FAULTS = {"kill": "crash (SIGKILL)", "pause": "stall until a new master is named (SIGSTOP)"}


def failover_table(results: dict[str, list[Round]]) -> list[str]:
    """Write the failover rounds as a Markdown table, one row per scenario and writer."""
    lines = [
        "| master's fault | guard | writer | failover, s (min / median / max) "
        "| acknowledged writes lost, each failover "
        "| writes `WAIT` saw on no replica, each failover (of them lost) "
        "| old master demoted, s after it woke (min / median / max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rounds in results.items():
        _, fault, wait, min_replicas = SCENARIOS[name]
        guard = "`WAIT 1 100`" if wait else "none"
        if min_replicas:
            guard = f"`min-replicas-to-write {min_replicas}`"
        for writer in rounds[0].writers:
            per = [r.writers[writer] for r in rounds]
            unconfirmed = (
                ", ".join(f"{int(p['unconfirmed'])} ({int(p['unconfirmed_lost'])})" for p in per)
                if wait
                else "not asked"
            )
            demoted = [p["old_master_demoted_after_resume_s"] for p in per if fault == "pause"]
            lost = ", ".join(f"{int(p['lost']):,}" for p in per)
            lines.append(
                f"| {FAULTS[fault]} | {guard} | {WRITERS[writer]} "
                f"| {summary([r.failover_s for r in rounds])} "
                f"| {lost} | {unconfirmed} "
                f"| {summary(demoted) if demoted else 'it stays dead'} |"
            )
    return lines


def capacity_table(figures: dict[str, float], jobs: int, requests: int) -> list[str]:
    """Write what one RQ job costs in Redis commands and what one Redis serves."""
    per_job = figures["commands_per_job_enqueue"] + figures["commands_per_job_worker"]
    needed = TARGET_TASKS_PER_MINUTE / 60 * per_job
    served = [value for name, value in figures.items() if name.endswith("_per_second")]
    lines = [
        "| what | figure |",
        "|---|---|",
        f"| Redis commands per RQ job, counted with `INFO` over {jobs:,} jobs "
        f"| {per_job:.0f}: {figures['commands_per_job_enqueue']:.0f} to enqueue, "
        f"{figures['commands_per_job_worker']:.0f} in a `SimpleWorker` |",
        f"| commands a second for {TARGET_TASKS_PER_MINUTE:,} tasks a minute | {needed:,.0f} |",
    ]
    for name, value in figures.items():
        if name.endswith("_per_second"):
            command = name.removesuffix("_per_second").upper()
            lines.append(
                f"| `{command}` a second, one Redis, `redis-benchmark` with "
                f"{BENCHMARK_CLIENTS} clients, {requests:,} requests | {value:,.0f} |"
            )
    lines.append(f"| one Redis against the commands needed | {min(served) / needed:.1f} times |")
    return lines


def markdown(
    *,
    heading: str,
    results: dict[str, list[Round]],
    failovers: int,
    timings: SentinelTimings,
    figures: dict[str, float],
    jobs: int,
    requests: int,
    command: str,
) -> str:
    """Return the page's figure file: when it was taken, the failovers, the capacity."""
    return "\n".join(
        [
            heading,
            "",
            *failover_table(results),
            "",
            f"Failovers per row: {failovers}. Sentinel's test timings "
            f"(`down-after-milliseconds {timings.down_after_ms}`, "
            f"`failover-timeout {timings.failover_timeout_ms}`), one replica. "
            "Failover: from the fault to the first write the new master accepts.",
            "",
            *capacity_table(figures, jobs, requests),
            "",
            f"Written by `{command}`.",
            "",
        ]
    )


def main() -> None:
    """Run the scenarios and print the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--failovers", type=int, default=5, help="failovers per scenario")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated: {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--capacity", action="store_true", help="commands per RQ job, commands per second"
    )
    parser.add_argument("--jobs", type=int, default=1000, help="RQ jobs counted (capacity)")
    parser.add_argument(
        "--requests", type=int, default=200_000, help="redis-benchmark requests per command"
    )
    parser.add_argument(
        "--markdown", type=Path, help="run the failovers and the capacity, write the tables here"
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="measure at once, without waiting for a quiet machine",
    )
    args = parser.parse_args()
    watch = Watch(wait=not args.no_wait)
    if args.capacity:
        for name, value in capacity(args.jobs, args.requests).items():
            print(f"{name}: {value:,.1f}")
        return

    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"
    report: dict[str, object] = {"machine": machine, "failovers_per_scenario": args.failovers}
    results: dict[str, list[Round]] = {}
    print(machine)
    settings.configure(REDIS_URL="redis://unused")
    django.setup()
    names = [name.strip() for name in args.scenarios.split(",")]
    timings = SentinelTimings()
    for min_replicas in sorted({SCENARIOS[name][3] for name in names}):
        with start_redis_ha(min_replicas_to_write=min_replicas) as ha:
            settings.REDIS_SENTINELS = [f"{host}:{port}" for host, port in ha.sentinels]
            settings.REDIS_SENTINEL_MASTER = ha.master_name
            timings = ha.timings
            report["sentinel_timings"] = asdict(ha.timings)
            print(f"Sentinel timings (test values): {asdict(ha.timings)}", flush=True)
            for name in names:
                if SCENARIOS[name][3] == min_replicas:
                    results[name] = run_scenario(ha, name, args.failovers)
    report["scenarios"] = {name: [asdict(r) for r in rounds] for name, rounds in results.items()}
    if args.markdown:
        figures = capacity(args.jobs, args.requests)
        report["capacity"] = figures
        for name, value in figures.items():
            print(f"{name}: {value:,.1f}")
        ordered = {name: results[name] for name in SCENARIOS if name in results}
        args.markdown.write_text(
            markdown(
                heading=watch.taken_on(),
                results=ordered,
                failovers=args.failovers,
                timings=timings,
                figures=figures,
                jobs=args.jobs,
                requests=args.requests,
                command=" ".join(["python benchmarks/redis_failover.py", *sys.argv[1:]]),
            )
        )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
