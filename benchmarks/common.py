"""What the benchmark scripts share: the stack, the app server, the load generator, statistics.

- :func:`prepared_stack`: a throwaway native stack, migrated, with the demo catalog.
- :class:`AppServer`: the shop under granian (several worker processes), its workers' memory and
  CPU time, its ``/metrics``, and the SQL timings of :mod:`bench_timer`.
- :func:`wrk`: one run of wrk (Debian's package, installed with ``apt-get`` when missing and
  root) with a Lua script that reports p50/p95/p99 as JSON, and the CPU time wrk itself used.
- :class:`Progress`: one line per step, with the time since the start.
- :class:`Watch`: whether the machine was quiet while a script measured, and the first line
  of every file of figures (:func:`taken_on`).
- :class:`Bench`: what the scenarios of ``run_all.py`` share; every load run is measured
  ``rounds`` times beside bare Django under the same kind of server.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from fashionistar_dev.processes import Interface, free_port, shop_server_args
from fashionistar_dev.stack import running_stack
from fashionistar_dev.stack.binaries import apt_install

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"
MANAGE = [sys.executable, str(ROOT / "manage.py")]
WRK_SCRIPT = HERE / "wrk_report.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(samples: list[float], share: float) -> float:
    """Return the nearest-rank percentile of the samples.

    Args:
        samples: The values (not empty).
        share: 0.95 for p95.

    Returns:
        The value at that rank.
    """
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def latency_ms(samples_s: list[float]) -> dict[str, float]:
    """Summarise latencies given in seconds as p50/p95/p99 in milliseconds.

    Args:
        samples_s: The latencies, in seconds (not empty).

    Returns:
        ``{"samples", "p50_ms", "p95_ms", "p99_ms"}``.
    """
    return {
        "samples": len(samples_s),
        "p50_ms": 1000 * statistics.median(samples_s),
        "p95_ms": 1000 * percentile(samples_s, 0.95),
        "p99_ms": 1000 * percentile(samples_s, 0.99),
    }


def _first_line_with(path: str, prefix: str) -> str:
    try:
        with open(path) as lines:
            return next(line.split(":", 1)[1].strip() for line in lines if line.startswith(prefix))
    except (OSError, StopIteration):
        return "unknown"


def load_average() -> list[float]:
    """Return the 1, 5 and 15 minute load averages (other work on the machine shows here).

    Returns:
        The three figures.
    """
    return [round(value, 2) for value in os.getloadavg()]


QUIET_LOAD = 0.5
"""A 1-minute load average at or under this: nothing else runs on the machine."""


def wait_until_quiet(*, timeout_s: float = 300) -> bool:
    """Wait for the load of earlier work (a test run, a build) to fade before measuring.

    Args:
        timeout_s: How long to wait at most.

    Returns:
        Whether the machine is quiet now; figures taken otherwise must say so.
    """
    deadline = time.monotonic() + timeout_s
    while load_average()[0] > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)
    return load_average()[0] <= QUIET_LOAD


def quiet_load(*, wait: bool) -> bool:
    """Whether the load average is quiet: after waiting for it (:func:`wait_until_quiet`), or now.

    Args:
        wait: Wait for it to fall first (a quick check of a script need not).

    Returns:
        Whether it is at :data:`QUIET_LOAD` or under.
    """
    return wait_until_quiet() if wait else load_average()[0] <= QUIET_LOAD


def spread(values: list[float], *, digits: int = 1, unit: str = "") -> str:
    """Format repeated figures as their median and range.

    Args:
        values: The figures (not empty).
        digits: Decimals.
        unit: Written after the median (``" s"``), or nothing.

    Returns:
        ``median unit (min to max)``, thousands separated.
    """
    median, low, high = statistics.median(values), min(values), max(values)
    return f"{median:,.{digits}f}{unit} ({low:,.{digits}f} to {high:,.{digits}f})"


def seconds_spread(values: list[float]) -> str:
    """Format some durations as their median and range.

    Args:
        values: The figures, in seconds.

    Returns:
        ``median s (min to max)``.
    """
    return spread(values, unit=" s")


def code_version() -> str:
    """Name the code a figure was measured on: its commit, ``-dirty`` when the code was changed.

    Changes under ``docs/`` do not count: a run of several scripts rewrites the figure files
    there as it goes, and the code the next script measures is the same.

    Returns:
        The abbreviated commit, ``-dirty`` appended when a tracked file outside ``docs/``
        differs from it; ``unknown`` outside a git checkout.
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short=7", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if changed else commit


def machine() -> dict[str, object]:
    """Describe the machine the figures come from, and the code they measure.

    Returns:
        Cores, CPU model, memory, OS, Python, the load average, and the code's commit.
    """
    return {
        "code": code_version(),
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "memory": _first_line_with("/proc/meminfo", "MemTotal"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "load_average": load_average(),
    }


BUSY = "**Taken on a busy machine: these figures are not comparable.**"


def taken_on(
    *,
    load_before: list[float],
    quiet: bool,
    other_cores: float | None = None,
    elapsed_s: float | None = None,
    stolen_share: float | None = None,
    cpu_ms: list[float] | None = None,
    reference_ms: float | None = None,
    note: str = "",
) -> str:
    """Say when and on what machine a generated figure file was taken, for its first line.

    Args:
        load_before: The load average read before measuring (:func:`load_average`).
        quiet: Whether the machine was quiet then (:func:`wait_until_quiet`), and stayed so.
        other_cores: The cores other processes used meanwhile (:class:`Watch`), when known.
        elapsed_s: How long the script measured, when known.
        stolen_share: The share of the CPUs' time the hypervisor gave to other machines
            meanwhile (:class:`Watch`), when known.
        cpu_ms: :func:`cpu_probe`'s timings before, during (:meth:`Watch.probe`) and after
            measuring, when taken.
        reference_ms: The fastest median of those timings recorded on this CPU model
            (:func:`reference_loop_ms`), when known.
        note: A sentence to add before the warning, if any.

    Returns:
        One sentence: date, cores, CPU, Python, how long, load average before and after, the
        other processes' share, the hypervisor's, the fixed loop's CPU time (how fast one core
        was, how steady, and against this CPU model's fastest), the note, and a warning when
        the machine was busy.
    """
    about = machine()
    took = f", in {elapsed_s:.0f} s" if elapsed_s is not None else ""
    others = (
        f"; other processes used {other_cores:.2f} cores meanwhile"
        if other_cores is not None
        else ""
    )
    stolen = (
        f"; the hypervisor held back {100 * stolen_share:.1f}% of the CPUs' time (steal)"
        if stolen_share is not None
        else ""
    )
    loop = (
        f"; a fixed Python loop took {statistics.median(cpu_ms):.0f} ms of CPU "
        f"({percentile(cpu_ms, 0.1):.0f} to {percentile(cpu_ms, 0.9):.0f} from the 10th to the "
        f"90th percentile of {len(cpu_ms)} timings, from start to end)"
        if cpu_ms
        else ""
    )
    if cpu_ms and reference_ms:
        loop += (
            f", {statistics.median(cpu_ms) / reference_ms:.2f} times the fastest median "
            f"recorded on this CPU model ({reference_ms:.0f} ms)"
        )
    busy = "" if quiet else f" {BUSY}"
    return (
        f"Taken {now_utc()} of commit {about['code']}{took} on {about['cores']} cores "
        f"({about['cpu']}), Python "
        f"{about['python']}; load average {load_before[0]} before, {load_average()[0]} after"
        f"{others}{stolen}{loop}.{' ' + note if note else ''}{busy}"
    )


OTHER_WORK_CORES = 0.25
"""Processes outside the measuring script using more than this many cores on average: busy."""


STOLEN_SHARE = 0.10
"""The hypervisor running other machines on our CPUs for more than this share of the time: busy.

A virtual machine's load average and processes do not show it; ``/proc/stat`` counts it as
*steal*. Figures taken meanwhile move with the neighbours' work, not with the code.
"""


CPU_PROBE_LOOP = 500_000
"""Additions of the fixed pure-Python loop that :func:`cpu_probe` times (tens of milliseconds)."""

CPU_PROBE_TIMINGS = 20
"""Timings of that loop at each end of a measurement."""

UNSTEADY_SPREAD = 1.25
"""The loop's 90th-percentile CPU time over its 10th above this: the CPU's speed moved: busy.

A virtual CPU can share its physical core with another machine's thread without the hypervisor
counting any *steal*: our process keeps running, only slower. The same loop then takes more CPU
time from one moment to the next, and so does every request measured meanwhile.
"""


SLOW_CORE = 1.3
"""The loop's median CPU time over the fastest recorded on this CPU model above this: busy.

A host can also slow a whole virtual machine down for a long spell: every timing steady, no
steal counted, no other process running, yet each at a fraction of the core's usual speed, and
so is every request measured meanwhile. Only a reference tells such a spell apart
(:data:`LOOP_REFERENCE`).
"""

LOOP_REFERENCE = ROOT / "docs" / "assets" / "benchmarks" / "loop-reference.json"
"""The fastest median loop time of a quiet scenario, by CPU model (``run_all.py`` keeps it)."""


def cpu_model() -> str:
    """The CPU's model name, as ``/proc/cpuinfo`` gives it.

    Returns:
        The name (``unknown`` when the file does not say).
    """
    return _first_line_with("/proc/cpuinfo", "model name")


def _recorded_loop_ms() -> dict[str, float]:
    try:
        recorded: dict[str, float] = json.loads(LOOP_REFERENCE.read_text())
    except FileNotFoundError:
        return {}
    return recorded


def reference_loop_ms(cpu: str) -> float | None:
    """The fastest median CPU time of the loop recorded on this CPU model.

    Args:
        cpu: The model (:func:`cpu_model`).

    Returns:
        Milliseconds, or ``None`` when no quiet run on this model was recorded yet.
    """
    return _recorded_loop_ms().get(cpu)


def record_loop_ms(cpu: str, timings: list[float]) -> None:
    """Keep the median of a quiet measurement's loop timings if it is the model's fastest yet.

    Args:
        cpu: The model (:func:`cpu_model`).
        timings: :func:`cpu_probe`'s milliseconds (none: nothing recorded).
    """
    recorded = _recorded_loop_ms()
    if not timings or recorded.get(cpu, math.inf) <= statistics.median(timings):
        return
    recorded[cpu] = round(statistics.median(timings), 1)
    LOOP_REFERENCE.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")


def cpu_probe(*, timings: int = CPU_PROBE_TIMINGS) -> list[float]:
    """Time a fixed pure-Python loop on one core, several times, a short pause between.

    Args:
        timings: How many times.

    Returns:
        The CPU milliseconds of each (``time.process_time``: the loop's own CPU time, whatever
        else the machine runs on the other cores).
    """
    spent = []
    for _ in range(timings):
        started = time.process_time()
        total = 0
        for number in range(CPU_PROBE_LOOP):
            total += number
        spent.append(1000 * (time.process_time() - started))
        time.sleep(0.05)
    return spent


def cpu_spread(timings: list[float]) -> float:
    """The 90th percentile of the loop's timings over their 10th (1.0: a steady CPU).

    Args:
        timings: :func:`cpu_probe`'s milliseconds.

    Returns:
        The ratio.
    """
    return percentile(timings, 0.9) / percentile(timings, 0.1)


def steady_cpu_probe(*, timeout_s: float = 300) -> list[float]:
    """Time the loop (:func:`cpu_probe`) until one set of timings is steady, or time runs out.

    Args:
        timeout_s: How long to try at most.

    Returns:
        The last set of timings: steady unless the time ran out.
    """
    deadline = time.monotonic() + timeout_s
    timings = cpu_probe()
    while cpu_spread(timings) > UNSTEADY_SPREAD and time.monotonic() < deadline:
        time.sleep(5)
        timings = cpu_probe()
    return timings


def _cpu_ticks() -> list[int]:
    with open("/proc/stat") as stat:  # the first line adds up every core
        return [int(value) for value in stat.readline().split()[1:9]]


def _busy_ticks() -> int:
    user, nice, system = _cpu_ticks()[:3]
    return user + nice + system


def _steal_and_total_ticks() -> tuple[int, int]:
    ticks = _cpu_ticks()  # user nice system idle iowait irq softirq steal
    return ticks[7], sum(ticks)


def own_tree_ticks() -> int:
    """Return the CPU time this process and its descendants used, in clock ticks.

    A descendant that ended counts in its parent's children time (``cutime``, ``cstime``) once
    its parent waited for it: the stack's servers, the app servers and wrk are all waited for.

    Returns:
        User and system ticks, the waited-for children's included.
    """
    parents, ticks = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _proc_stat(int(entry.name))
        except (OSError, IndexError):
            continue  # gone meanwhile
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = sum(int(value) for value in fields[11:15])  # u, s, cu, cs time
    children: dict[int, list[int]] = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    total, pending = 0, [os.getpid()]
    while pending:
        pid = pending.pop()
        total += ticks.get(pid, 0)
        pending += children.get(pid, [])
    return total


class Watch:
    """Whether the machine stayed quiet while a script measured, for its files' first line.

    Created before measuring: waits for the load of earlier work to fade
    (:func:`wait_until_quiet`), then reads the CPU time the whole machine and this process's
    tree have used, and the time the hypervisor held the CPUs back (steal). :meth:`stop` reads
    them again: what the machine used beyond this tree is other work, and so is steal. The load
    average cannot tell: the measurement's own load shows there too. A watch that waits for a
    quiet machine also waits for a steady core (:func:`steady_cpu_probe`) and times the loop
    again at the end: a core whose speed moved (:data:`UNSTEADY_SPREAD`) makes the machine busy
    too, and so does a core that ran the loop steadily but much slower than this CPU model's
    fastest quiet run (:data:`SLOW_CORE`).
    """

    def __init__(self, *, wait: bool = True, load: bool = True) -> None:
        """Start watching.

        Args:
            wait: Wait for a quiet machine first (a quick check of a script need not).
            load: Wait for the load average to fall too: not between two parts of one run,
                whose own load it still shows for minutes (the CPU time counted meanwhile
                tells other work apart).
        """
        self.started = time.monotonic()
        self.waited_quiet = True if wait and not load else quiet_load(wait=wait)
        self.cpu_ms = steady_cpu_probe() if wait else []
        self.cpu = cpu_model()
        self.reference_ms = reference_loop_ms(self.cpu)
        self.load_before = load_average()
        self._machine, self._ours = _busy_ticks(), own_tree_ticks()
        self._steal, self._total = _steal_and_total_ticks()
        self._measuring_since = time.monotonic()
        self.other_cores: float | None = None
        self.stolen_share: float | None = None
        self.elapsed_s: float | None = None

    def stop(self) -> Watch:
        """Read how much other work ran since the start (the first call only counts).

        Returns:
            This watch.
        """
        if self.other_cores is None:
            seconds = max(time.monotonic() - self._measuring_since, 1e-9)
            other = (_busy_ticks() - self._machine) - (own_tree_ticks() - self._ours)
            self.other_cores = max(0.0, other / CLOCK_TICKS / seconds)
            steal, total = _steal_and_total_ticks()
            self.stolen_share = (steal - self._steal) / max(total - self._total, 1)
            if self.cpu_ms:
                self.cpu_ms += cpu_probe()
            self.elapsed_s = time.monotonic() - self.started
        return self

    @property
    def quiet(self) -> bool:
        """Whether the machine was quiet at the start and other work stayed under the limits.

        Other work: other processes (:data:`OTHER_WORK_CORES`) and other virtual machines on
        the same CPUs (:data:`STOLEN_SHARE`, and :data:`UNSTEADY_SPREAD` when they share our
        cores without steal, :data:`SLOW_CORE` when they slow them down all along).
        """
        self.stop()
        other, stolen = self.other_cores, self.stolen_share
        return (
            self.waited_quiet
            and other is not None
            and other <= OTHER_WORK_CORES
            and stolen is not None
            and stolen <= STOLEN_SHARE
            and (not self.cpu_ms or cpu_spread(self.cpu_ms) <= UNSTEADY_SPREAD)
            and not self.slow
        )

    @property
    def slow(self) -> bool:
        """Whether the loop's median was beyond :data:`SLOW_CORE` times this model's fastest."""
        if not self.cpu_ms or self.reference_ms is None:
            return False
        return statistics.median(self.cpu_ms) > SLOW_CORE * self.reference_ms

    def taken_on(self) -> str:
        """The first line of a file of figures (:func:`taken_on`), after :meth:`stop`.

        Returns:
            The sentence.
        """
        self.stop()
        return taken_on(
            load_before=self.load_before,
            quiet=self.quiet,
            other_cores=self.other_cores,
            elapsed_s=self.elapsed_s,
            stolen_share=self.stolen_share,
            cpu_ms=self.cpu_ms,
            reference_ms=self.reference_ms,
        )


class Progress:
    """Prints one line per step, with the seconds since the run started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Return the seconds since the run started.

        Returns:
            The seconds.
        """
        return time.perf_counter() - self.started

    def say(self, scenario: str, text: str) -> None:
        """Print a step.

        Args:
            scenario: The scenario's name.
            text: What happens, or what came out.
        """
        print(f"[{self.elapsed():7.1f} s] {scenario}: {text}", flush=True)


@contextmanager
def prepared_stack(*, demo_stock: int | None = None) -> Iterator[dict[str, str]]:
    """Start a native stack, migrate it (and load the demo catalog), yield the app's env.

    Args:
        demo_stock: Opening stock of each demo variant; ``None`` loads no demo data.

    Yields:
        The environment the application needs (database, Redis, gateway, secret key), with
        throttling raised out of the way of load runs.
    """
    with running_stack(environ={"FASHIONISTAR_STACK": "native"}) as stack:
        env = {
            **os.environ,
            **stack.urls.environ(),
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_SETTINGS_MODULE": "fashionistar.project.settings",
            "API_THROTTLE_ANON": "10000000/minute",
            "API_THROTTLE_USER": "10000000/minute",
        }
        subprocess.run([*MANAGE, "migrate", "-v", "0"], env=env, check=True)
        if demo_stock is not None:
            subprocess.run(
                [
                    *MANAGE,
                    "shell",
                    "-c",
                    "from fashionistar_dev.demo.load import demo_load; "
                    f"demo_load(stock_per_variant={demo_stock})",
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        yield env


def wait_port(port: int, *, timeout: float = 30) -> None:
    """Wait until something listens on a loopback port.

    Args:
        port: The port.
        timeout: Seconds to wait.

    Raises:
        RuntimeError: Nothing listened in time.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError(f"nothing listens on port {port}")


@contextmanager
def slow_partners(*, latency_ms: int) -> Iterator[str]:
    """Run the fake card gateway (which also serves shipping and fraud) in its own process.

    Args:
        latency_ms: How long it takes to answer each request.

    Yields:
        Its base URL.
    """
    port = free_port()
    command = [sys.executable, "-m", "fashionistar_dev.partners", "--quiet"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--latency-ms", str(latency_ms)],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


def _proc_stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pids: list[int]) -> float:
    """Return the CPU time (user + system) the processes used so far.

    Args:
        pids: Live processes.

    Returns:
        Seconds of CPU.
    """
    total = 0
    for pid in pids:
        fields = _proc_stat(pid)  # fields[11] and [12] are utime and stime (man 5 proc)
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    """Return a process's resident memory.

    Args:
        pid: The process.

    Returns:
        Its RSS in MiB.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def parse_metrics(text: str) -> dict[str, float]:
    """Read the samples of a Prometheus text exposition.

    Args:
        text: What ``/metrics`` answered.

    Returns:
        Each sample's name with its labels, mapped to its value.
    """
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


class AppServer:
    """The shop under granian, several worker processes, on a free loopback port.

    Either runs a deploy files' server command
    (:func:`~fashionistar_dev.processes.shop_server_args`) on the shop's application plus a
    timer on each SQL statement: the ASGI one on :mod:`bench_asgi`, the WSGI one on
    :mod:`bench_wsgi`, each worker with :data:`~fashionistar_dev.processes.WSGI_THREADS` threads.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        interface: str = "asgi3",
        workers: int = 2,
        settings: str = "fashionistar.project.settings",
        database_url: str | None = None,
        app: str | None = None,
        ready_path: str = "/healthz",
    ) -> None:
        """Describe a server; start it with ``with``.

        Args:
            env: The application's environment (from :func:`prepared_stack`).
            interface: ``asgi3`` or ``wsgi``.
            workers: Worker processes.
            settings: The settings module.
            database_url: Another ``DATABASE_URL`` (PostgreSQL directly, for example).
            app: Another application (``module:attribute``), such as ``bare_django:asgi``.
            ready_path: The path that answers 200 once the application is up.
        """
        self.ready_path = ready_path
        self.app = app or (
            "bench_asgi:application" if interface == "asgi3" else "bench_wsgi:application"
        )
        self.interface = interface
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="fashionistar-bench-"))
        self.env = {
            **env,
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]),
            "PROMETHEUS_MULTIPROC_DIR": str(self._dir("metrics")),
            "BENCH_QUERY_DIR": str(self._dir("queries")),
        }
        if database_url:
            self.env["DATABASE_URL"] = database_url
        self.process: subprocess.Popen[bytes] | None = None

    def _dir(self, name: str) -> Path:
        path = self.folder / name
        path.mkdir()
        return path

    def command(self) -> list[str]:
        """The server's command line.

        Returns:
            granian with the deploy files' options for the interface.
        """
        interface: Interface = "asgi" if self.interface == "asgi3" else "wsgi"
        options = shop_server_args(
            interface=interface, host="127.0.0.1", port=self.port, application=self.app
        )
        return [
            sys.executable, "-m", "granian", "--workers", str(self.workers),
            "--log-level", "warning", *options,
        ]  # fmt: skip

    def __enter__(self) -> AppServer:
        command = self.command()
        with (self.folder / "server.log").open("wb") as log:
            self.process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log, stderr=log)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the app server exited with {self.process.returncode}:\n{self.log()[-3000:]}"
                )
            try:
                ready = httpx.get(f"{self.url}{self.ready_path}", timeout=2).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and len(self.worker_pids()) == self.workers:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.url} did not answer")

    def worker_pids(self) -> list[int]:
        """Return the worker processes' ids (granian's children).

        Returns:
            The ids.
        """
        assert self.process is not None
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                parent = int(_proc_stat(int(entry.name))[1])
                command = (entry / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue  # gone meanwhile
            if parent == self.process.pid and b"granian" in command:
                pids.append(int(entry.name))
        return pids

    def metrics(self) -> dict[str, float]:
        """Scrape ``/metrics`` (every worker's samples, added up).

        Returns:
            The samples (see :func:`parse_metrics`).
        """
        return parse_metrics(httpx.get(f"{self.url}/metrics", timeout=10).text)

    def stop(self) -> None:
        """Stop the server (its workers write their SQL timings as they stop)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
            errors = [line for line in self.log().splitlines() if '"log.level": "error"' in line]
            if errors:
                print(f"{len(errors)} errors logged by {self.url}; the first:\n{errors[0][-4000:]}")

    def log(self) -> str:
        """Return what the server wrote (the shop logs JSON lines, flushed as it stops).

        Returns:
            The text.
        """
        return (self.folder / "server.log").read_text(errors="replace")

    def query_times(self) -> dict[str, list[float]]:
        """Return the SQL statement durations the workers recorded, by route; after :meth:`stop`.

        Returns:
            Seconds per statement, keyed by the request path with ids replaced by ``{id}``.
        """
        routes: dict[str, list[float]] = {}
        for dump in (self.folder / "queries").glob("*.json"):
            for route, times in json.loads(dump.read_text()).items():
                routes.setdefault(route, []).extend(times)
        return routes

    def cleanup(self) -> None:
        """Remove the server's scratch folder."""
        shutil.rmtree(self.folder, ignore_errors=True)


def ensure_wrk() -> str:
    """Find wrk, installing Debian's package when it is missing and we are root.

    Returns:
        The program's path.

    Raises:
        SystemExit: wrk is missing and cannot be installed here.
    """
    found = shutil.which("wrk")
    if found is None and apt_install(["wrk"]):
        found = shutil.which("wrk")
    if found is None:
        raise SystemExit("the benchmarks need wrk: install the Debian/Ubuntu package 'wrk'")
    return found


def wrk(
    url: str,
    *,
    connections: int,
    seconds: float,
    kind: str = "get",
    token: str | None = None,
    ids: list[int] | None = None,
    prefix: str = "-",
    watch: list[int] | None = None,
) -> dict[str, Any]:
    """Load a URL with wrk (one client thread) and return its figures.

    Args:
        url: The full URL.
        connections: Open connections, each sending its next request when the last answered.
        seconds: How long.
        kind: ``get``; ``order`` (POST an order of one unit of a random variant of ``ids``);
            ``pay`` (POST ``{prefix}{id}/pay`` for each id of ``ids`` in turn, a new
            ``Idempotency-Key`` each).
        token: An API token to send.
        ids: Variant ids (``order``) or order ids (``pay``).
        prefix: The path before the order id (``pay``).
        watch: Server processes whose CPU time to report.

    Returns:
        Requests, requests/s, p50/p95/p99 and mean in ms, errors (non-2xx answers, timeouts,
        socket errors), the CPU seconds wrk used and the server's CPU seconds.

    Raises:
        RuntimeError: wrk failed, or a ``pay`` run ran out of order ids.
    """
    program = ensure_wrk()
    with tempfile.NamedTemporaryFile("w", suffix=".ids") as id_file:
        id_file.write("\n".join(str(i) for i in ids or []) + "\n")
        id_file.flush()
        server_cpu = cpu_seconds(watch or [])
        # wrk is the only child reaped meanwhile: the children's CPU time that grows is its own.
        client_cpu = _children_cpu()
        process = subprocess.run(
            [program, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
             "-s", str(WRK_SCRIPT), url, "--", kind, token or "-", id_file.name, prefix,
             secrets.token_hex(4)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        client_cpu = _children_cpu() - client_cpu
        server_cpu = cpu_seconds(watch or []) - server_cpu
    output = process.stdout
    report = next((line for line in output.splitlines() if line.startswith("{")), None)
    if process.returncode or report is None:
        raise RuntimeError(f"wrk failed ({process.returncode}): {process.stderr or output}")
    raw = json.loads(report)
    if kind == "pay" and raw["requests"] > len(ids or []):
        raise RuntimeError("the pay run ran out of orders: raise the number of fixture orders")
    duration = raw["duration_us"] / 1e6
    failed = sum(raw[name] for name in ("connect", "read", "write", "timeout")) + raw["status"]
    return {
        "connections": connections,
        "seconds": round(duration, 2),
        "requests": raw["requests"],
        "requests_per_s": raw["requests"] / duration,
        "p50_ms": raw["p50_us"] / 1000,
        "p95_ms": raw["p95_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "mean_ms": raw["mean_us"] / 1000,
        "errors": failed,
        "error_kinds": {
            name: raw[name]
            for name in ("connect", "read", "write", "timeout", "status")
            if raw[name]
        },
        "client_cpu_s": round(client_cpu, 2),
        "server_cpu_s": round(server_cpu, 2),
    }


def now_utc() -> str:
    """Return the current time, ISO 8601 in UTC, to the second.

    Returns:
        The time.
    """
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def route_of(path: str) -> str:
    """Turn a request path into its route: ids become ``{id}``.

    Args:
        path: ``/api/async/orders/12/pay``.

    Returns:
        ``/api/async/orders/{id}/pay``.
    """
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


@dataclass(frozen=True)
class Budget:
    """How long and how much each scenario measures.

    Attributes:
        seconds: Length of each measured load run.
        warmup: Length of the unmeasured run before each cell's load runs (0: none).
        connections: Open connections of a load run.
        rounds: Times each cell is measured: its median and range are shown (3 at least in a
            full run; a quick run checks the harness, not the shop).
        repeats: Repetitions of each in-process measurement within one round.
        samples: Connections opened per connection kind.
        tasks: Tasks per drain measurement.
        task_rounds: Times each worker set-up is measured (each round starts its workers).
        live_seconds: Length of the fixed-rate task phase.
        open_loop_seconds: Length of each fixed-rate HTTP run.
        workers: Worker processes of each app server.
    """

    seconds: int
    warmup: int
    connections: int
    rounds: int
    repeats: int
    samples: int
    tasks: int
    task_rounds: int
    live_seconds: float
    open_loop_seconds: float
    workers: int


FULL = Budget(
    seconds=6,
    warmup=2,
    connections=16,
    rounds=3,
    repeats=20,
    samples=200,
    tasks=1000,
    task_rounds=3,
    live_seconds=10,
    open_loop_seconds=10,
    workers=2,
)
QUICK = Budget(
    seconds=1,
    warmup=1,  # a cold first answer can outlast a 1 s round on a loaded machine
    connections=4,
    rounds=1,
    repeats=2,
    samples=10,
    tasks=50,
    task_rounds=1,
    live_seconds=1,
    open_loop_seconds=0.25,
    workers=1,
)
DEMO_STOCK = 100_000_000
"""Deep stock, so that load runs never sell out."""
BARE_PATHS = {"bare ping": "/bare/ping", "bare list": "/bare/products"}
"""What :mod:`bare_django` serves: a constant, and the product list without the shop around it."""
INTERFACES = {"asgi3": "ASGI", "wsgi": "WSGI"}
_MEDIANS = ("requests_per_s", "p50_ms", "p95_ms", "p99_ms", "mean_ms", "seconds")
REPEATED = ("requests_per_s", "p50_ms", "p95_ms", "p99_ms", "errors")
"""The figures of each round that a cell keeps, for its range and its verdicts."""


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Reduce the rounds of one cell: medians, totals, and each round's main figures.

    Args:
        runs: What :func:`wrk` returned, once per round (not empty).

    Returns:
        The medians of :data:`_MEDIANS` and of the CPU seconds, the requests and errors of all
        rounds, and ``repeats``: each round's figures of :data:`REPEATED`, by name.
    """
    cell: dict[str, Any] = {key: statistics.median(run[key] for run in runs) for key in _MEDIANS}
    cell["client_cpu_s"] = statistics.median(run["client_cpu_s"] for run in runs)
    cell["server_cpu_s"] = statistics.median(run["server_cpu_s"] for run in runs)
    cell["connections"] = runs[0]["connections"]
    cell["requests"] = sum(run["requests"] for run in runs)
    cell["errors"] = sum(run["errors"] for run in runs)
    kinds: Counter[str] = Counter()
    for run in runs:
        kinds.update(run.get("error_kinds", {}))
    cell["error_kinds"] = dict(kinds)
    cell["repeats"] = {key: [run[key] for run in runs] for key in REPEATED}
    return cell


def merged(slices: list[dict[str, Any]]) -> dict[str, Any]:
    """One round's figures from several :func:`wrk` runs of the same server and URL.

    Args:
        slices: What :func:`wrk` returned for each (not empty).

    Returns:
        The same keys: requests, seconds, errors and CPU seconds added up; requests/s and the
        mean latency over them all; the percentiles of the slowest slice (percentiles of
        separate runs do not add up).
    """
    requests = sum(run["requests"] for run in slices)
    # wrk's own duration, which "seconds" keeps only to two decimals.
    seconds = sum(
        run["requests"] / run["requests_per_s"] if run["requests_per_s"] else run["seconds"]
        for run in slices
    )
    kinds: Counter[str] = Counter()
    for run in slices:
        kinds.update(run.get("error_kinds", {}))
    return {
        "connections": slices[0]["connections"],
        "seconds": round(seconds, 2),
        "requests": requests,
        "requests_per_s": requests / seconds,
        **{key: max(run[key] for run in slices) for key in ("p50_ms", "p95_ms", "p99_ms")},
        "mean_ms": sum(run["mean_ms"] * run["requests"] for run in slices) / max(requests, 1),
        "errors": sum(run["errors"] for run in slices),
        "error_kinds": dict(kinds),
        "client_cpu_s": round(sum(run["client_cpu_s"] for run in slices), 2),
        "server_cpu_s": round(sum(run["server_cpu_s"] for run in slices), 2),
    }


def demo_fixtures(base_url: str) -> tuple[str, list[int]]:
    """Log the demo customer in and list every demo variant (Django set up).

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


@dataclass
class Bench:
    """What every scenario gets: the stack's env, the running shop, the budget, the progress.

    Every load run of the shop is set beside bare Django (:mod:`bare_django`) under the same
    kind of server with as many connections, measured in the same run when first needed.

    Attributes:
        env: The application's environment.
        budget: How long to measure.
        progress: Where to report steps.
        server: The shop under granian (ASGI, PgBouncer, the default settings).
        token: The demo customer's API token.
        variant_ids: Every demo variant.
        partner_latency_ms: How long the fake partners (gateway, shipping, fraud) take.
        resources: Servers started on the way (bare Django's), stopped with the bench.
        bare_servers: Bare Django's servers, by interface.
        baselines: Bare Django's cells, by server interface and connections.
        query_times: The shop server's SQL timings, once it has stopped.
    """

    env: dict[str, str]
    budget: Budget
    progress: Progress
    server: AppServer
    token: str
    variant_ids: list[int]
    partner_latency_ms: int
    resources: ExitStack = field(default_factory=ExitStack)
    bare_servers: dict[str, AppServer] = field(default_factory=dict)
    baselines: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    query_times: dict[str, list[float]] = field(default_factory=dict)

    def server_for(self, *, environment: dict[str, str] | None = None, **options: Any) -> AppServer:
        """Describe another app server on this stack, with the budget's worker count.

        Args:
            environment: Variables added to the application's environment.
            **options: For :class:`AppServer`.

        Returns:
            The server, to start with ``with``.
        """
        return AppServer(
            {**self.env, **(environment or {})}, workers=self.budget.workers, **options
        )

    def measure(
        self, server: AppServer, path: str, *, warm: bool = True, **options: Any
    ) -> dict[str, Any]:
        """Load one path for the budget's rounds (after a warm-up) and summarise them.

        Args:
            server: The server to load.
            path: The request path.
            warm: Run the budget's warm-up first (never for ``pay``: it would use up orders).
            **options: For :func:`wrk` (``connections`` and ``seconds`` default to the
                budget's); the ``ids`` of a ``pay`` run are shared out between the rounds.

        Returns:
            The cell (:func:`summarise`).
        """
        options.setdefault("connections", self.budget.connections)
        options.setdefault("seconds", self.budget.seconds)
        options.setdefault("token", self.token)
        url = f"{server.url}{path}"
        rounds = self.budget.rounds
        pay = options.get("kind") == "pay"
        if warm and self.budget.warmup and not pay:
            wrk(url, **{**options, "seconds": self.budget.warmup})
        ids = options.pop("ids", None)
        runs = [
            wrk(
                url,
                watch=server.worker_pids(),
                ids=ids[number::rounds] if pay and ids else ids,
                **options,
            )
            for number in range(rounds)
        ]
        return summarise(runs)

    def bare(self, interface: str, connections: int) -> dict[str, Any]:
        """Bare Django's ping and product list under this kind of server, measured once.

        Measured at the first call, kept until :attr:`baselines` is cleared: a full run clears
        it before each attempt of a scenario (``run_all.with_own_baselines``).

        Args:
            interface: ``asgi3`` or ``wsgi``.
            connections: Open connections.

        Returns:
            ``{"label", "bare ping": cell, "bare list": cell}``.
        """
        key = (interface, connections)
        if key not in self.baselines:
            server = self.bare_server(interface)
            label = f"bare Django, {INTERFACES[interface]}, {connections} connection" + (
                "s" if connections > 1 else ""
            )
            cells: dict[str, Any] = {"label": label}
            for name, path in BARE_PATHS.items():
                cells[name] = self.measure(server, path, connections=connections)
                self._say(f"{label}, {name}", cells[name])
            self.baselines[key] = cells
        return self.baselines[key]

    def bare_server(self, interface: str) -> AppServer:
        """Bare Django under this kind of server, started when first asked for.

        Args:
            interface: ``asgi3`` or ``wsgi``.

        Returns:
            The running server.
        """
        found = self.bare_servers.get(interface)
        if found is None:
            self.progress.say("bare", f"starting bare Django under {INTERFACES[interface]}")
            found = self.server_for(
                interface=interface,
                settings="bare_django",
                app=f"bare_django:{'asgi' if interface == 'asgi3' else 'wsgi'}",
                ready_path=BARE_PATHS["bare ping"],
            )
            self.resources.callback(found.cleanup)  # after it stopped: its log is read then
            self.resources.enter_context(found)
            self.bare_servers[interface] = found
        return found

    def _say(self, label: str, cell: dict[str, Any]) -> None:
        rates = spread(cell["repeats"]["requests_per_s"], digits=0)
        self.progress.say(
            "load",
            f"{label} c={cell['connections']}: {rates} req/s, p95 {cell['p95_ms']:.1f} ms, "
            f"errors {cell['errors']}",
        )

    def load(self, server: AppServer, path: str, **options: Any) -> dict[str, Any]:
        """Measure one path of the shop (:meth:`measure`), beside bare Django (:meth:`bare`).

        Args:
            server: The server to load.
            path: The request path.
            **options: For :meth:`measure`.

        Returns:
            The cell, plus the cache hits and misses and the SQL statements per request that
            the app counted during the rounds, ``bare`` (bare Django's cells) and
            ``vs_bare_list`` (requests/s over bare Django's list's).
        """
        options.setdefault("connections", self.budget.connections)
        bare = self.bare(server.interface, options["connections"])
        url = f"{server.url}{path}"
        if self.budget.warmup and options.get("kind") != "pay":
            wrk(url, **{"token": self.token, **options, "seconds": self.budget.warmup})
        before = server.metrics()
        figures = self.measure(server, path, warm=False, **options)
        after = server.metrics()

        def grew(name: str) -> float:
            return after.get(name, 0.0) - before.get(name, 0.0)

        requests = grew("fashionistar_db_queries_per_request_count") - 1  # the first scrape
        figures["cache_hits"] = grew('fashionistar_cache_requests_total{result="hit"}')
        figures["cache_misses"] = grew('fashionistar_cache_requests_total{result="miss"}')
        figures["catalog_from_cache"] = grew('fashionistar_catalog_answers_total{source="cache"}')
        figures["catalog_from_database"] = grew(
            'fashionistar_catalog_answers_total{source="database"}'
        )
        figures["queries_per_request"] = (
            grew("fashionistar_db_queries_per_request_sum") / requests if requests > 0 else None
        )
        figures["bare"] = bare
        figures["vs_bare_list"] = (
            figures["requests_per_s"] / bare["bare list"]["requests_per_s"]
            if bare["bare list"]["requests_per_s"]
            else None
        )
        self._say(path, figures)
        return figures

    def fixture_orders(self, count: int) -> list[int]:
        """Insert placed, unpaid orders of the demo customer, for payment runs.

        Args:
            count: How many.

        Returns:
            Their ids.
        """
        from fashionistar.accounts.models import User
        from fashionistar.orders.models import Order, OrderStatus
        from fashionistar_dev.demo import DEMO_USERNAME

        user = User.objects.get(username=DEMO_USERNAME)
        orders = [
            Order(user=user, status=OrderStatus.PLACED, currency="EUR", total=Decimal("89.00"))
            for _ in range(count)
        ]
        return [order.pk for order in Order.objects.bulk_create(orders, batch_size=1000)]

    def pay(self, server: AppServer, flavour: str) -> dict[str, Any]:
        """Load the payment endpoint of one API: each request pays another fixture order.

        The gateway answers after ``partner_latency_ms``, so one connection cannot send more
        than ``1000 / partner_latency_ms`` requests a second: that bounds the orders needed.
        The budget's warm-up pays orders of its own first, as the other cells warm up.

        Args:
            server: The server to load.
            flavour: ``async`` (Ninja) or ``sync`` (DRF).

        Returns:
            The figures of :meth:`load`.
        """
        prefix = f"/api/{flavour}/orders/"
        if self.budget.warmup:  # on orders of its own: a warm-up must not use up the rounds'
            wrk(
                f"{server.url}/",
                connections=self.budget.connections,
                seconds=self.budget.warmup,
                kind="pay",
                token=self.token,
                ids=self.fixture_orders(self._orders_paid_in(self.budget.warmup)),
                prefix=prefix,
            )
        ids = self.fixture_orders(self._orders_paid_in(self.budget.seconds) * self.budget.rounds)
        return self.load(
            server, "/", kind="pay", ids=ids, prefix=prefix, seconds=self.budget.seconds
        )

    def _orders_paid_in(self, seconds: float) -> int:
        per_connection = seconds * 1000 / self.partner_latency_ms
        return int(self.budget.connections * (per_connection + 2) * 1.2)


@contextmanager
def bench_stack(*, partner_latency_ms: int, progress: Progress) -> Iterator[dict[str, str]]:
    """Start the stack with deep demo stock and the fake partners; set Django up on it.

    Args:
        partner_latency_ms: How long the fake partners take to answer.
        progress: Where to report.

    Yields:
        The application's environment (also in ``os.environ``).
    """
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
        yield env


@contextmanager
def running_bench(
    env: dict[str, str], *, budget: Budget, partner_latency_ms: int, progress: Progress
) -> Iterator[Bench]:
    """Serve the shop on the stack of :func:`bench_stack`; stop every server on the way out.

    Args:
        env: The application's environment.
        budget: How long to measure.
        partner_latency_ms: How long the fake partners take to answer.
        progress: Where to report.

    Yields:
        The harness; its ``query_times`` are filled in once the shop's server has stopped.
    """
    progress.say("setup", f"app server: granian, {budget.workers} worker(s), ASGI, PgBouncer")
    with AppServer(env, workers=budget.workers) as server:
        token, variant_ids = demo_fixtures(server.url)
        bench = Bench(env, budget, progress, server, token, variant_ids, partner_latency_ms)
        with bench.resources:
            yield bench
    bench.query_times = server.query_times()
    server.cleanup()
