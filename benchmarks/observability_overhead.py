"""The throughput cost of logging + tracing + metrics + CSP on the catalog list, in one run.

Two servers of the shop run side by side on one throwaway stack (the harness of
:mod:`common`: uvicorn, 2 worker processes, ASGI, wrk with one thread on the same machine),
both on the production settings:

- **on**: as deployed. JSON access and Django log lines (to uvicorn's stdout, here
  ``/dev/null``), the request-id and metrics middleware (Prometheus multiprocess files), the
  CSP middleware, and OpenTelemetry exporting every span over OTLP/HTTP to a collector that this
  script runs (it counts what arrives);
- **off**: the same settings without the observability middleware, the metered cache, the
  observability app, the ``LOGGING`` configuration, CSP, and with no OTLP endpoint.

Both serve plain HTTP (``SECURE_SSL_REDIRECT`` off: wrk cannot say it came through a TLS proxy).
The list is loaded from both APIs, ``/api/async/catalog/products`` (Ninja) and
``/api/sync/catalog/products`` (DRF), alternating off and on in each round so that drift on
the shared machine hits both. It prints requests/s (median of the rounds), the on/off ratio,
the overhead, and the servers' CPU time per request (which other work on the machine disturbs
less than requests/s).

Usage: ``uv run python benchmarks/observability_overhead.py [--rounds 3] [--quick] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from common import (
    FULL,
    QUICK,
    AppServer,
    Budget,
    Progress,
    load_average,
    machine,
    prepared_stack,
    wrk,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

ENDPOINTS = {"Ninja async": "/api/async/catalog/products", "DRF sync": "/api/sync/catalog/products"}
SETTINGS_ON = """\
from fashionistar.project.settings_production import *  # noqa: F403

SECURE_SSL_REDIRECT = False
"""
SETTINGS_OFF = """\
from fashionistar.project.settings_production import *  # noqa: F403

SECURE_SSL_REDIRECT = False
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "fashionistar.observability"]
MIDDLEWARE = [
    name
    for name in MIDDLEWARE
    if not name.startswith("fashionistar.observability.")
    and name != "django.middleware.csp.ContentSecurityPolicyMiddleware"
]
CACHES = {
    "default": {**CACHES["default"], "BACKEND": "fashionistar.kernel.redis_client.RedisCache"}
}
LOGGING = {}
SECURE_CSP = {}
"""


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that keeps the export bodies (parsed after the runs)."""

    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        """Keep one export and answer 200."""
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Stay quiet."""


@contextmanager
def otlp_collector() -> Iterator[str]:
    """Run :class:`Collector` in a thread.

    Yields:
        Its base URL (``OTEL_EXPORTER_OTLP_ENDPOINT``).
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def spans_received() -> Counter[str]:
    """Count the spans the collector received, by kind.

    Returns:
        ``{"SPAN_KIND_SERVER": n, "SPAN_KIND_CLIENT": m, ...}``.
    """
    kinds: Counter[str] = Counter()
    for body in Collector.bodies:
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    kinds[Span.SpanKind.Name(span.kind)] += 1
    return kinds


def server_for(env: dict[str, str], settings_source: str, folder: Path, name: str) -> AppServer:
    """Describe a server whose settings module is written into ``folder``.

    Args:
        env: The application's environment.
        settings_source: The module's text.
        folder: Where to write it.
        name: The module's name.

    Returns:
        The server, not started.
    """
    (folder / f"{name}.py").write_text(settings_source)
    server = AppServer(env, settings=name)
    server.env["PYTHONPATH"] = f"{folder}:{server.env['PYTHONPATH']}"
    return server


def measure(
    servers: dict[str, AppServer], *, budget: Budget, rounds: int, progress: Progress
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Load each endpoint of each server, alternating which goes first in each round.

    Args:
        servers: ``{"off": ..., "on": ...}``, started.
        budget: Seconds, warm-up and connections per run.
        rounds: How many times.
        progress: Where to report.

    Returns:
        ``{endpoint: {"off": [figures per round], "on": [...]}}``.
    """
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        label: {"off": [], "on": []} for label in ENDPOINTS
    }
    for number in range(rounds):
        order = ("off", "on") if number % 2 == 0 else ("on", "off")
        for label, path in ENDPOINTS.items():
            for config in order:
                server = servers[config]
                url = f"{server.url}{path}"
                if budget.warmup:
                    wrk(url, connections=budget.connections, seconds=budget.warmup)
                figures = wrk(
                    url,
                    connections=budget.connections,
                    seconds=budget.seconds,
                    watch=server.worker_pids(),
                )
                runs[label][config].append(figures)
                progress.say(
                    "overhead",
                    f"round {number + 1} {label} {config}: "
                    f"{figures['requests_per_s']:.1f} req/s, errors {figures['errors']}",
                )
    return runs


def cpu_per_request(runs: list[dict[str, Any]]) -> float:
    """Return the server's CPU time per request over some runs.

    Less sensitive than requests/s to other work on a shared machine: time the server waits
    for a core does not count.

    Args:
        runs: wrk's figures, with the server's CPU seconds.

    Returns:
        Milliseconds of CPU (the worker processes, user and system) per request.
    """
    return 1000 * sum(r["server_cpu_s"] for r in runs) / sum(r["requests"] for r in runs)


def summary(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, dict[str, float]]:
    """Reduce each endpoint's runs to medians, the ratio and the overhead.

    Args:
        runs: What :func:`measure` returned.

    Returns:
        ``{endpoint: {"off_rps", "on_rps", "ratio", "overhead_pct", "off_p50_ms", ...}}``.
    """
    table = {}
    for label, configs in runs.items():
        off = statistics.median(r["requests_per_s"] for r in configs["off"])
        on = statistics.median(r["requests_per_s"] for r in configs["on"])
        table[label] = {
            "off_rps": off,
            "on_rps": on,
            "ratio": on / off,
            "overhead_pct": 100 * (1 - on / off),
            "off_p50_ms": statistics.median(r["p50_ms"] for r in configs["off"]),
            "on_p50_ms": statistics.median(r["p50_ms"] for r in configs["on"]),
            "off_cpu_ms_per_request": cpu_per_request(configs["off"]),
            "on_cpu_ms_per_request": cpu_per_request(configs["on"]),
            "errors": sum(r["errors"] for config in configs.values() for r in config),
        }
    return table


def main() -> int:
    """Run both servers, measure, print.

    Returns:
        0, or 1 when a run had errors.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 s runs, to try the script")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    budget = QUICK if args.quick else FULL
    progress = Progress()
    load_before = load_average()
    folder = Path(tempfile.mkdtemp(prefix="fashionistar-overhead-"))
    with prepared_stack(demo_stock=1000) as env, otlp_collector() as endpoint:
        production = {
            **env,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "INFO",
        }
        on = server_for(
            {**production, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "shop"},
            SETTINGS_ON,
            folder,
            "bench_observability_on",
        )
        off = server_for(production, SETTINGS_OFF, folder, "bench_observability_off")
        with on, off:
            progress.say("overhead", f"servers up: on {on.url}, off {off.url}")
            runs = measure(
                {"off": off, "on": on}, budget=budget, rounds=args.rounds, progress=progress
            )
        for server in (on, off):
            server.cleanup()
    table = summary(runs)
    spans = spans_received()
    print(
        f"\n{'endpoint':12} {'off req/s':>10} {'on req/s':>10} {'on/off':>7} {'overhead':>9}"
        f" {'CPU ms/req off':>15} {'on':>6}"
    )
    for label, row in table.items():
        print(
            f"{label:12} {row['off_rps']:10.1f} {row['on_rps']:10.1f} {row['ratio']:7.3f} "
            f"{row['overhead_pct']:8.1f}% {row['off_cpu_ms_per_request']:15.2f} "
            f"{row['on_cpu_ms_per_request']:6.2f}"
        )
    print(f"spans received by the OTLP collector, by kind: {dict(spans)}")
    conditions = (
        f"uvicorn 2 workers (ASGI) per server, wrk 1 thread {budget.connections} connections, "
        f"{budget.seconds} s per run after {budget.warmup} s warm-up, {args.rounds} rounds, "
        "median; client and servers share the machine; load average before "
        f"{load_before}, after {load_average()}"
    )
    print(conditions)
    if args.json:
        report = {
            "machine": machine(),
            "conditions": conditions,
            "summary": table,
            "spans": dict(spans),
            "runs": runs,
        }
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if any(row["errors"] for row in table.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
