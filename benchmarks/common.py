"""What the benchmark scripts share: the stack, the app server, the load generator, statistics.

- :func:`prepared_stack`: a throwaway native stack, migrated, with the demo catalog.
- :class:`AppServer`: the shop under uvicorn (several worker processes), its workers' memory and
  CPU time, its ``/metrics``, and the SQL timings of :mod:`bench_asgi`.
- :func:`wrk`: one run of wrk (Debian's package, installed with ``apt-get`` when missing and
  root) with a Lua script that reports p50/p95/p99 as JSON, and the CPU time wrk itself used.
- :class:`Progress`: one line per step, with the time since the start.
"""

from __future__ import annotations

import json
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from fashionistar_dev.processes import free_port
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


def seconds_spread(values: list[float]) -> str:
    """Format some durations as their median and range.

    Args:
        values: The figures, in seconds.

    Returns:
        ``median s (min to max)``.
    """
    return f"{statistics.median(values):.1f} s ({min(values):.1f} to {max(values):.1f})"


def machine() -> dict[str, object]:
    """Describe the machine the figures come from.

    Returns:
        Cores, CPU model, memory, OS, Python, and the load average when asked.
    """
    return {
        "cores": os.cpu_count(),
        "cpu": _first_line_with("/proc/cpuinfo", "model name"),
        "memory": _first_line_with("/proc/meminfo", "MemTotal"),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "load_average": load_average(),
    }


def taken_on(*, load_before: list[float], quiet: bool) -> str:
    """Say when and on what machine a generated figure file was taken, for its first line.

    Args:
        load_before: The load average read before measuring (:func:`load_average`).
        quiet: Whether the machine was quiet then (:func:`wait_until_quiet`).

    Returns:
        One sentence: date, cores, CPU, Python, load average before and after, and a warning
        when the machine was busy.
    """
    about = machine()
    busy = "" if quiet else " **Taken on a busy machine: these figures are not comparable.**"
    return (
        f"Taken {now_utc()} on {about['cores']} cores ({about['cpu']}), Python {about['python']}; "
        f"load average {load_before[0]} before, {load_average()[0]} after.{busy}"
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
    """The shop under uvicorn, several worker processes, on a free loopback port.

    Served through :mod:`serve_nodelay` unless asked otherwise: ``uvicorn --workers N`` leaves
    Nagle's algorithm on (see there), which adds about 40 ms to each keep-alive request.

    ASGI servers run :mod:`bench_asgi` (the shop's application plus a timer on each SQL
    statement); a WSGI server runs ``fashionistar.project.wsgi`` through uvicorn's WSGI adapter.
    """

    def __init__(
        self,
        env: dict[str, str],
        *,
        interface: str = "asgi3",
        workers: int = 2,
        settings: str = "fashionistar.project.settings",
        database_url: str | None = None,
        nodelay: bool = True,
    ) -> None:
        """Describe a server; start it with ``with``.

        Args:
            env: The application's environment (from :func:`prepared_stack`).
            interface: ``asgi3`` or ``wsgi``.
            workers: Worker processes.
            settings: The settings module.
            database_url: Another ``DATABASE_URL`` (PostgreSQL directly, for example).
            nodelay: Serve through :mod:`serve_nodelay` (uvicorn's supervisor, with TCP_NODELAY
                on every connection); ``False`` runs ``uvicorn --workers N`` as shipped.
        """
        self.nodelay = nodelay
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

    def __enter__(self) -> AppServer:
        app = (
            "bench_asgi:application"
            if self.interface == "asgi3"
            else "fashionistar.project.wsgi:application"
        )
        options = [
            "--interface",
            self.interface,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        if self.nodelay:
            command = [sys.executable, str(HERE / "serve_nodelay.py"), app, *options]
        else:
            command = [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                *options,
                "--no-access-log",
                "--log-level",
                "warning",
            ]
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
                ready = httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                ready = False
            if ready and len(self.worker_pids()) == self.workers:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.url} did not answer")

    def worker_pids(self) -> list[int]:
        """Return the worker processes' ids (uvicorn's spawned children, or uvicorn alone).

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
            if parent == self.process.pid and b"spawn_main" in command:
                pids.append(int(entry.name))
        return pids or [self.process.pid]  # plain uvicorn with one worker serves by itself

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
        warmup: Length of the unmeasured run before each load run (0: none).
        connections: Open connections of a load run.
        repeats: Repetitions of each in-process measurement.
        samples: Connections opened per connection kind.
        tasks: Tasks per drain measurement.
        live_seconds: Length of the fixed-rate task phase.
        workers: Worker processes of each app server.
    """

    seconds: int
    warmup: int
    connections: int
    repeats: int
    samples: int
    tasks: int
    live_seconds: float
    workers: int


FULL = Budget(
    seconds=10,
    warmup=2,
    connections=16,
    repeats=20,
    samples=200,
    tasks=1000,
    live_seconds=15,
    workers=2,
)
QUICK = Budget(
    seconds=1, warmup=0, connections=4, repeats=2, samples=10, tasks=50, live_seconds=1, workers=1
)


@dataclass
class Bench:
    """What every scenario gets: the stack's env, the running shop, the budget, the progress.

    Attributes:
        env: The application's environment.
        budget: How long to measure.
        progress: Where to report steps.
        server: The shop under uvicorn (ASGI, PgBouncer, the default settings).
        token: The demo customer's API token.
        variant_ids: Every demo variant.
        partner_latency_ms: How long the fake partners (gateway, shipping, fraud) take.
    """

    env: dict[str, str]
    budget: Budget
    progress: Progress
    server: AppServer
    token: str
    variant_ids: list[int]
    partner_latency_ms: int

    def server_for(self, **options: Any) -> AppServer:
        """Describe another app server on this stack, with the budget's worker count.

        Args:
            **options: For :class:`AppServer`.

        Returns:
            The server, to start with ``with``.
        """
        return AppServer(self.env, workers=self.budget.workers, **options)

    def load(self, server: AppServer, path: str, **options: Any) -> dict[str, Any]:
        """Warm up, then load one endpoint with wrk; add what the app's metrics saw meanwhile.

        Args:
            server: The server to load.
            path: The request path.
            **options: For :func:`wrk` (``connections`` and ``seconds`` default to the
                budget's).

        Returns:
            wrk's figures, plus the cache hits and misses and the SQL statements per request
            that the app counted during the run.
        """
        options.setdefault("connections", self.budget.connections)
        options.setdefault("seconds", self.budget.seconds)
        options.setdefault("token", self.token)
        url = f"{server.url}{path}"
        if self.budget.warmup and options.get("kind") != "pay":
            wrk(url, **{**options, "seconds": self.budget.warmup})
        before = server.metrics()
        figures = wrk(url, watch=server.worker_pids(), **options)
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
        self.progress.say(
            "load",
            f"{path} c={figures['connections']}: {figures['requests_per_s']:.0f} req/s, "
            f"p95 {figures['p95_ms']:.1f} ms, errors {figures['errors']}",
        )
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

        Args:
            server: The server to load.
            flavour: ``async`` (Ninja) or ``sync`` (DRF).

        Returns:
            The figures of :meth:`load`.
        """
        per_connection = self.budget.seconds * 1000 / self.partner_latency_ms
        ids = self.fixture_orders(int(self.budget.connections * (per_connection + 2) * 1.2))
        return self.load(server, "/", kind="pay", ids=ids, prefix=f"/api/{flavour}/orders/")
