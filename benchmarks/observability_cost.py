"""What each piece of observability costs a request, counted in CPU instructions (valgrind).

Requests per second move with whatever else the machine runs; the instructions a request
executes do not. This script runs the shop's WSGI application in a process of its own under
valgrind's callgrind, once for each variant of the production settings below, and calls it
with the DRF product list (the catalog cache warm throughout), first :data:`SHORT` times and
then, in a second process, :data:`LONG` times: the difference over the difference in requests
is what one request executes, start-up left out. Only the thread that serves the requests is
counted: the background threads (the log writer, the span exporter) wake on timers, so their
counts follow the process's wall time under valgrind, not its requests.

The variants are :mod:`observability_overhead`'s two settings modules (everything on, as
deployed, and everything off) and the deployed one with one piece taken away, so that *as
deployed minus the row* is that piece's cost. Trace ids come from a seeded random generator:
both processes sample the same requests, and the count is reproducible.

Instructions are not time (a cache miss or a system call costs more than its instructions), but
they rank the pieces the same way on any machine, loaded or not.

Usage::

    uv run python benchmarks/observability_cost.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import HERE, ROOT, ensure_program, machine, now_utc, prepared_stack
from observability_overhead import (
    DRF,
    SETTINGS_OFF,
    SETTINGS_ON,
    otlp_collector,
    shipped_sampler,
    spans_received,
)
from report import table

SHORT = 20
"""Requests of the first process (after :data:`WARMUP`)."""
LONG = 120
"""Requests of the second process (after :data:`WARMUP`)."""
WARMUP = 10
"""Requests before the counted ones in both processes: the catalog cache, first-call imports."""
SEED = 2026
"""Of the random generator OpenTelemetry draws trace and span ids from."""

WITHOUT_CSP = """
SECURE_CSP = {}
MIDDLEWARE = [name for name in MIDDLEWARE if not name.endswith(".ContentSecurityPolicyMiddleware")]
"""
WITHOUT_METRICS = """
MIDDLEWARE = [name for name in MIDDLEWARE if not name.endswith(".MetricsMiddleware")]
"""


@dataclass(frozen=True)
class Variant:
    """A settings module and the environment it runs with."""

    name: str
    label: str
    settings_source: str
    env: dict[str, str] = field(default_factory=dict)
    traced: bool = True
    """Whether an OTLP endpoint is configured."""


DEPLOYED = "deployed"
NONE = "none"
VARIANTS = (
    Variant(DEPLOYED, "as deployed", SETTINGS_ON),
    Variant("no_access_line", "without the access line (`LOG_LEVEL=WARNING`)", SETTINGS_ON,
            {"LOG_LEVEL": "WARNING"}),
    Variant("none_sampled", "tracing on, no request sampled", SETTINGS_ON,
            {"OTEL_TRACES_SAMPLER_ARG": "0"}),
    Variant("untraced", "without tracing (no OTLP endpoint)", SETTINGS_ON, traced=False),
    Variant("no_csp", "without the CSP header", SETTINGS_ON + WITHOUT_CSP),
    Variant("no_metrics", "without the metrics middleware", SETTINGS_ON + WITHOUT_METRICS),
    Variant(NONE, "none of them (no logging, tracing, metrics, CSP)", SETTINGS_OFF, traced=False),
)  # fmt: skip


def thread_totals(out_file: Path) -> dict[int, int]:
    """Read callgrind's per-thread files (``--separate-threads=yes``).

    Args:
        out_file: The ``--callgrind-out-file`` given; each thread's file adds ``-NN``.

    Returns:
        Instructions executed by each thread, by its number (1: the main thread).
    """
    totals = {}
    for path in out_file.parent.glob(f"{out_file.name}-*"):
        summary = next(
            line for line in path.read_text().splitlines() if line.startswith("summary:")
        )
        totals[int(path.name.rsplit("-", 1)[1])] = int(summary.split()[1])
    return totals


def per_request(short: dict[int, int], long: dict[int, int], requests: int) -> dict[str, float]:
    """Work out one request's instructions from a short and a long process.

    Args:
        short: :func:`thread_totals` of the short process.
        long: The same of the long one.
        requests: How many more requests the long one served.

    Returns:
        ``{"serving": ..., "background": ...}``: instructions per request on the main thread
        and on every other thread (the table shows the first only).
    """
    main = (long.get(1, 0) - short.get(1, 0)) / requests
    others = sum(long.values()) - long.get(1, 0) - sum(short.values()) + short.get(1, 0)
    return {"serving": main, "background": others / requests}


def drive(path: str, count: int) -> None:
    """Call the shop's WSGI application: :data:`WARMUP` requests, then ``count`` counted ones.

    Runs in the process valgrind watches (``--drive``); every answer must be a 200.

    Args:
        path: The URL path.
        count: The counted requests.

    Raises:
        SystemExit: An answer was not a 200.
    """
    from fashionistar.project.wsgi import application

    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def call() -> None:
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http",
            "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        }  # fmt: skip
        body = application(environ, start_response)
        b"".join(body)
        body.close()  # type: ignore[attr-defined]  # Django's response; request_finished

    for _ in range(WARMUP):
        call()
    random.seed(SEED)
    for _ in range(count):
        call()
    if failed := [status for status in statuses if not status.startswith("200")]:
        raise SystemExit(f"{len(failed)} answers were not 200: {failed[0]}")


def count_variant(
    variant: Variant, *, env: dict[str, str], folder: Path, endpoint: str
) -> dict[str, Any]:
    """Run one variant's two processes under callgrind.

    Args:
        variant: The variant.
        env: The application's environment (:func:`common.prepared_stack`).
        folder: Scratch space (settings modules, callgrind's files, metrics files).
        endpoint: The OTLP collector's URL.

    Returns:
        :func:`per_request`'s figures, and the server spans the counted requests made.
    """
    (folder / f"cost_{variant.name}.py").write_text(variant.settings_source)
    metrics = folder / f"metrics_{variant.name}"
    metrics.mkdir()
    totals = {}
    for count in (SHORT, LONG):
        run_env = {
            **env,
            "DJANGO_SETTINGS_MODULE": f"cost_{variant.name}",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "INFO",
            # Warm throughout: under valgrind a request takes a hundred times longer, and a
            # rebuild every CATALOG_CACHE_S of that slow time would count as the requests' work.
            "CATALOG_CACHE_S": "86400",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            "PYTHONPATH": os.pathsep.join([str(folder), str(HERE), str(ROOT / "src")]),
            **shipped_sampler(),
            "OTEL_SERVICE_NAME": f"{variant.name}-{count}",
            **variant.env,
        }
        if variant.traced:
            run_env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
        out_file = folder / f"callgrind_{variant.name}_{count}"
        subprocess.run(
            [
                ensure_program("valgrind"), "--tool=callgrind", "--separate-threads=yes",
                f"--callgrind-out-file={out_file}",
                sys.executable, __file__, "--drive", DRF, str(count),
            ],
            env=run_env, cwd=ROOT, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        totals[count] = thread_totals(out_file)
    figures: dict[str, Any] = per_request(totals[SHORT], totals[LONG], LONG - SHORT)
    spans = spans_received()
    server = "SPAN_KIND_SERVER"
    figures["sampled"] = spans.get(f"{variant.name}-{LONG}", {}).get(server, 0) - spans.get(
        f"{variant.name}-{SHORT}", {}
    ).get(server, 0)
    return figures


def run() -> dict[str, dict[str, Any]]:
    """Count every variant on a stack of its own.

    Returns:
        Each variant's figures, by name.
    """
    ensure_program("valgrind")
    folder = Path(tempfile.mkdtemp(prefix="fashionistar-cost-"))
    try:
        with prepared_stack(demo_stock=1000) as env, otlp_collector() as endpoint:
            return {
                variant.name: count_variant(variant, env=env, folder=folder, endpoint=endpoint)
                for variant in VARIANTS
            }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def markdown(figures: dict[str, dict[str, Any]]) -> str:
    """Write the table.

    Args:
        figures: :func:`run`'s figures.

    Returns:
        The table and a sentence on the sampled requests.
    """
    deployed, none = figures[DEPLOYED]["serving"], figures[NONE]["serving"]
    rows = []
    for variant in VARIANTS:
        serving = figures[variant.name]["serving"]
        saved = deployed - serving
        rows.append([
            variant.label,
            f"{serving / 1e6:.2f}",
            f"{100 * (serving / none - 1):+.1f}%",
            "" if variant.name == DEPLOYED else f"{saved / 1e6:.2f} ({100 * saved / none:.1f}%)",
        ])  # fmt: skip
    header = [
        "settings",
        "M instructions per request",
        "over none of them",
        "as deployed minus this row: M (share of none of them)",
    ]
    return (
        f"{table(header, rows)}\n\n"
        f"The DRF product list, cache warm, called {LONG - SHORT} times more in one process "
        f"than in another; the instructions of the thread that served them. As deployed, "
        f"{figures[DEPLOYED]['sampled']} of these requests were sampled (the deploy files' "
        f"sampler, trace ids from a seeded generator)."
    )


def counted_on() -> str:
    """Say when and with what the instructions were counted, for the file's first line.

    Returns:
        One sentence.
    """
    version = subprocess.run(
        [ensure_program("valgrind"), "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    about = machine()
    return (
        f"Counted {now_utc()} with {version} (callgrind) on {about['cpu']}, Python "
        f"{about['python']}: instruction counts do not depend on the machine's load."
    )


def main(argv: list[str] | None = None) -> int:
    """Count every variant; print the table, write it when asked.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--markdown", type=Path, help="write the table here")
    parser.add_argument("--drive", nargs=2, metavar=("PATH", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.drive:
        drive(args.drive[0], int(args.drive[1]))
        return 0
    text = f"{counted_on()}\n\n{markdown(run())}\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
