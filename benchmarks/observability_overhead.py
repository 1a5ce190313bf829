"""Scenario ``observability``: what logging, tracing and metrics cost, in one run.

Servers of the shop run side by side on the harness's stack (:mod:`common`: granian, the
budget's worker processes, wrk with one thread on the same machine), all on the production
settings, in pairs under the same kind of server:

- **on**: as deployed. JSON access and Django log lines (to the server's stdout, here a file), the
  request-id and metrics middleware (Prometheus multiprocess files), and OpenTelemetry with the
  deploy files' sampler (``deploy/k8s/configmap.yaml``: one request in twenty traced) exporting
  over OTLP/HTTP to a collector that this script runs (it counts what arrives, by server and
  kind). The request's own span is the shop's tracing middleware's under both kinds of server;
- **off**: the same settings without the observability middleware, the metered cache, the
  observability app, the ``LOGGING`` configuration, and with no OTLP endpoint. Both send the
  production settings' ``Content-Security-Policy`` header: it is security, not observability.

All serve plain HTTP (``SECURE_SSL_REDIRECT`` off: wrk cannot say it came through a TLS proxy).
The catalog list is loaded from both APIs under ASGI and from DRF under WSGI; each round loads
off and on in mirrored slices (off, on, on, off, then on, off, off, on) so that drift on the
shared machine hits both; the overhead is worked out round by round. Beside them, bare Django's
list under the same kind of server (:meth:`common.Bench.bare`). The servers' CPU time per
request is shown too: other work on the machine disturbs it less than requests/s.

Part of ``run_all.py``; alone::

    uv run python benchmarks/observability_overhead.py [--quick] [--markdown FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from contextlib import AbstractContextManager, ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import yaml
from common import (
    FULL,
    QUICK,
    ROOT,
    AppServer,
    Bench,
    Progress,
    Watch,
    bench_stack,
    merged,
    running_bench,
    summarise,
    wrk,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from report import Target, Verdict, bars, fmt, ratio, rounds_of, table, verdict_lines, verdict_word

from fashionistar_dev.processes import serving

NAME = "observability"
CLAIM = "project target: observability overhead <= 15% of requests/s"
TARGET = Target(15, at_least=False)
"""Fewer requests/s with it on, in percent (met at or under the value)."""
NINJA = "/api/async/catalog/products"
DRF = "/api/sync/catalog/products"
ROWS = {
    "Ninja list, ASGI": ("asgi3", NINJA),
    "DRF list, ASGI": ("asgi3", DRF),
    "DRF list, WSGI": ("wsgi", DRF),
}
SERVICES = {"asgi3": "shop-asgi", "wsgi": "shop-wsgi"}
CONFIGMAP = ROOT / "deploy" / "k8s" / "configmap.yaml"


def shipped_sampler() -> dict[str, str]:
    """The web servers' sampler, as the deploy files set it.

    Returns:
        ``OTEL_TRACES_SAMPLER`` and its argument, from the Kubernetes ConfigMap.
    """
    data = yaml.safe_load(CONFIGMAP.read_text())["data"]
    return {name: data[name] for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")}


SETTINGS_ON = """\
from fashionistar.project.settings_production import *  # noqa: F403

SECURE_SSL_REDIRECT = False
"""
SETTINGS_OFF = """\
from fashionistar.project.settings_production import *  # noqa: F403

SECURE_SSL_REDIRECT = False
INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "fashionistar.observability"]
MIDDLEWARE = [name for name in MIDDLEWARE if not name.startswith("fashionistar.observability.")]
CACHES = {
    "default": {**CACHES["default"], "BACKEND": "fashionistar.kernel.redis_client.RedisCache"}
}
LOGGING = {}
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


def otlp_collector() -> AbstractContextManager[str]:
    """Run :class:`Collector` in a thread.

    Returns:
        A context whose value is its base URL (``OTEL_EXPORTER_OTLP_ENDPOINT``).
    """
    return serving(Collector)


def spans_received() -> dict[str, Counter[str]]:
    """Count the spans the collector received, by service and kind.

    Returns:
        ``{"shop-asgi": {"SPAN_KIND_SERVER": n, "SPAN_KIND_CLIENT": m, ...}, ...}``.
    """
    found: dict[str, Counter[str]] = {}
    for body in Collector.bodies:
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            service = next(
                (
                    item.value.string_value
                    for item in resource_spans.resource.attributes
                    if item.key == "service.name"
                ),
                "unknown",
            )
            kinds = found.setdefault(service, Counter())
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    kinds[Span.SpanKind.Name(span.kind)] += 1
    return found


def server_for(
    bench: Bench, *, interface: str, settings_source: str, folder: Path, name: str, **env: str
) -> AppServer:
    """Describe a server of the shop whose settings module is written into ``folder``.

    Args:
        bench: The harness (its environment and budget).
        interface: ``asgi3`` or ``wsgi``.
        settings_source: The module's text.
        folder: Where to write it.
        name: The module's name.
        **env: More environment variables.

    Returns:
        The server, not started.
    """
    (folder / f"{name}.py").write_text(settings_source)
    server = AppServer(
        {**bench.env, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "LOG_LEVEL": "INFO", **env},
        interface=interface,
        workers=bench.budget.workers,
        settings=name,
        # The shop as deployed, without the harness's SQL timer (bench_timer).
        app=f"fashionistar.project.{'asgi' if interface == 'asgi3' else 'wsgi'}:application",
    )
    server.env["PYTHONPATH"] = f"{folder}:{server.env['PYTHONPATH']}"
    return server


def measure(
    bench: Bench, servers: dict[tuple[str, str], AppServer]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Load each row's path from its off and on servers in mirrored slices.

    A round loads each server twice, for half the budget's seconds each time, in the order
    off, on, on, off (on, off, off, on in the next round): a machine that speeds up or slows
    down steadily during the round costs both servers the same.

    Args:
        bench: The harness (budget and progress).
        servers: By (interface, ``"off"`` or ``"on"``), started.

    Returns:
        ``{row: {"off": [wrk figures per round], "on": [...]}}``.
    """
    budget = bench.budget
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {row: {"off": [], "on": []} for row in ROWS}
    for number in range(budget.rounds):
        first, second = ("off", "on") if number % 2 == 0 else ("on", "off")
        for row, (interface, path) in ROWS.items():
            slices: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
            for config in (first, second, second, first):
                server = servers[interface, config]
                url = f"{server.url}{path}"
                options = {"connections": budget.connections, "token": bench.token}
                if budget.warmup and not slices[config]:
                    wrk(url, seconds=budget.warmup, **options)
                slices[config].append(
                    wrk(url, seconds=budget.seconds / 2, watch=server.worker_pids(), **options)
                )
            for config, pair in slices.items():
                figures = merged(pair)
                runs[row][config].append(figures)
                bench.progress.say(
                    NAME,
                    f"round {number + 1} {row} {config}: "
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


def overheads(off: list[float], on: list[float]) -> list[float]:
    """Fewer requests/s with it on, in percent, round by round.

    Args:
        off: Requests/s of each round without.
        on: Requests/s of each round with.

    Returns:
        ``100 * (1 - on / off)`` per round.
    """
    return [100 * (1 - ratio(b, a)) for a, b in zip(off, on, strict=True)]


def run(bench: Bench) -> dict[str, Any]:
    """Start an off and an on server under each kind of server; measure; count the spans.

    Args:
        bench: The harness.

    Returns:
        ``{"rows": {row: {"off": cell, "on": cell, "overhead_pct": [...], "cpu_ms": {...},
        "bare": ...}}, "spans": {service: {kind: n}}, "requests": {service: n}, "sampler":
        {variable: value}}``.
    """
    bare = {interface: bench.bare(interface, bench.budget.connections) for interface in SERVICES}
    sampler = shipped_sampler()
    folder = Path(tempfile.mkdtemp(prefix="fashionistar-overhead-"))
    Collector.bodies.clear()
    servers: dict[tuple[str, str], AppServer] = {}
    with otlp_collector() as endpoint:
        for interface, service in SERVICES.items():
            kind = interface.removesuffix("3")
            servers[interface, "on"] = server_for(
                bench,
                interface=interface,
                settings_source=SETTINGS_ON,
                folder=folder,
                name=f"bench_observability_on_{kind}",
                OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
                OTEL_SERVICE_NAME=service,
                **sampler,
            )
            servers[interface, "off"] = server_for(
                bench,
                interface=interface,
                settings_source=SETTINGS_OFF,
                folder=folder,
                name=f"bench_observability_off_{kind}",
            )
        bench.progress.say(NAME, f"starting {len(servers)} servers: off and on, ASGI and WSGI")
        with ExitStack() as running:
            for server in servers.values():
                running.callback(server.cleanup)  # after it stopped: its log is read then
                running.enter_context(server)
            runs = measure(bench, servers)
    spans = spans_received()
    requests: Counter[str] = Counter()
    rows = {}
    for row, (interface, _path) in ROWS.items():
        off, on = summarise(runs[row]["off"]), summarise(runs[row]["on"])
        requests[SERVICES[interface]] += on["requests"]
        rows[row] = {
            "interface": interface,
            "off": off,
            "on": on,
            "overhead_pct": overheads(
                off["repeats"]["requests_per_s"], on["repeats"]["requests_per_s"]
            ),
            "cpu_ms_per_request": {
                "off": cpu_per_request(runs[row]["off"]),
                "on": cpu_per_request(runs[row]["on"]),
            },
            "bare": bare[interface],
        }
    return {"rows": rows, "spans": spans, "requests": dict(requests), "sampler": sampler}


def verdicts(figures: dict[str, Any], *, quiet: bool) -> list[Verdict]:
    """Judge the target on every round of every row.

    Args:
        figures: What :func:`run` measured.
        quiet: Whether the machine was quiet.

    Returns:
        One verdict.
    """
    rounds = [pct for row in figures["rows"].values() for pct in row["overhead_pct"]]
    measured = (
        "; ".join(
            f"{label}: "
            + ", ".join(f"{fmt(pct)}%" for pct in row["overhead_pct"])
            + " fewer requests/s"
            for label, row in figures["rows"].items()
        )
        + " (round by round)"
    )
    word = verdict_word(
        met=[pct <= TARGET.value for pct in rounds],
        clearly_missed=[TARGET.clearly_misses(pct) for pct in rounds],
        quiet=quiet,
    )
    return [Verdict(CLAIM, measured, word, "", NAME)]


def sampled(sampler: dict[str, str]) -> str:
    """Say which share of requests a sampler traces.

    Args:
        sampler: ``OTEL_TRACES_SAMPLER`` and its argument.

    Returns:
        For example ``parentbased_traceidratio, 1 request in 20 traced``.
    """
    ratio = float(sampler["OTEL_TRACES_SAMPLER_ARG"])
    share = "no request" if ratio == 0 else f"1 request in {fmt(1 / ratio, 0)}"
    return f"{sampler['OTEL_TRACES_SAMPLER']}, {share} traced"


def markdown(figures: dict[str, Any]) -> str:
    """Write the scenario's table and what the collector received.

    Args:
        figures: What :func:`run` measured.

    Returns:
        Markdown.
    """

    def ranged(values: list[float]) -> str:
        return f"{fmt(statistics.median(values))} ({fmt(min(values))} to {fmt(max(values))})"

    rows = []
    for label, row in figures["rows"].items():
        off, on, bare = row["off"], row["on"], row["bare"]["bare list"]["requests_per_s"]
        cpu = row["cpu_ms_per_request"]
        rows.append(
            [
                label,
                ranged(off["repeats"]["requests_per_s"]),
                ranged(on["repeats"]["requests_per_s"]),
                f"{ranged(row['overhead_pct'])}",
                f"{fmt(cpu['off'], 2)} → {fmt(cpu['on'], 2)}",
                f"x{fmt(off['requests_per_s'] / bare if bare else None, 2)} / "
                f"x{fmt(on['requests_per_s'] / bare if bare else None, 2)}",
                f"{off['errors']} / {on['errors']}",
            ]
        )
    spans = []
    for interface, service in SERVICES.items():
        kinds = figures["spans"].get(service, {})
        served = figures["requests"].get(service, 0)
        per_kind = ", ".join(
            f"{kinds.get(f'SPAN_KIND_{kind.upper()}', 0):,} {kind}"
            for kind in ("server", "client", "internal")
        )
        spans.append(
            f"{'ASGI' if interface == 'asgi3' else 'WSGI'}: {per_kind} spans for "
            f"{served:,} measured requests (and the unmeasured warm-ups)"
        )
    header = [
        "list, server",
        "off: requests/s",
        "on: requests/s",
        "fewer requests/s with it on, %",
        "server CPU ms per request, off → on",
        "÷ bare list, off / on",
        "errors, off / on",
    ]
    return (
        table(header, rows)
        + "\n\nThe median of the rounds (lowest to highest); the overhead is worked out round "
        "by round, from each server's two slices of the round. *÷ bare list*: "
        "requests/s over those of bare Django's list under the same kind of server, measured in "
        f"the same run. The servers with it on sampled as the deploy files do "
        f"({sampled(figures['sampler'])}). Spans received by the collector from them: "
        + "; ".join(spans)
        + "."
    )


def plot(figures: dict[str, Any], path: Path, *, note: str = "") -> None:
    """Draw requests/s off and on, and the overhead, per row.

    Args:
        figures: What :func:`run` measured.
        path: The PNG to write.
        note: Written under the title.
    """
    rows = figures["rows"]
    panels = {
        "requests/s, off": {k: rounds_of(v["off"], "requests_per_s") for k, v in rows.items()},
        "requests/s, on": {k: rounds_of(v["on"], "requests_per_s") for k, v in rows.items()},
        "fewer requests/s with it on, %": {k: v["overhead_pct"] for k, v in rows.items()},
    }
    bars(
        path,
        title="Logging, tracing and metrics: off and on (dashed: the target)",
        panels=panels,
        targets={"fewer requests/s with it on, %": TARGET.value},
        note=note,
    )


def main(argv: list[str] | None = None) -> int:
    """Measure on a stack of its own; print the table, write it when asked.

    Args:
        argv: The command-line arguments.

    Returns:
        0, or 1 when a run had errors.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1 s runs, to try the script")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    progress = Progress()
    watch = Watch(wait=not args.quick)
    with (
        bench_stack(partner_latency_ms=100, progress=progress) as env,
        running_bench(env, budget=budget, partner_latency_ms=100, progress=progress) as bench,
    ):
        figures = run(bench)
    text = "\n\n".join(
        [watch.taken_on(), markdown(figures), verdict_lines(verdicts(figures, quiet=watch.quiet))]
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    errors = sum(
        row[config]["errors"] for row in figures["rows"].values() for config in ("off", "on")
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
