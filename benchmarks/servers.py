"""Which server runs the shop fastest, each beside bare Django under the same server.

Every candidate serves the shop (all middleware and observability on) and then
:mod:`bare_django` (no middleware, plain views over the same data), with two worker processes,
on one native stack with the demo catalog; wrk (16 connections, one thread) loads each path for
``--seconds``, ``--repeats`` times, and the table shows the median requests/s with the lowest
and highest repeat, and the median p95. Last, both lists go through the router (nginx with the
deploy files' server block) in front of the two shipped servers, as the deploy files serve them.
It waits up to five minutes for the 1-minute load
average to fall below 0.5 and watches for other work meanwhile (:class:`common.Watch`): the
table's first line says when and on what machine it was taken, and whether it was busy.

Usage::

    uv run python benchmarks/servers.py [--seconds 4] [--repeats 3] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import HERE, ROOT, Watch, prepared_stack, wrk
from report import Target, Verdict, judge, ratio, verdict_lines

from fashionistar_dev.processes import Interface, free_port, free_ports, shop_server_args
from fashionistar_dev.router import router_command, router_config
from fashionistar_dev.stack.binaries import ensure_binaries

WORKERS = 2
CONNECTIONS = 16

SHOP = {
    "livez": "/livez",
    "DRF list": "/api/sync/catalog/products",
    "Ninja list": "/api/async/catalog/products",
}
WAIT_MS = 100
"""How long bare Django's waiting view waits: a partner that answers in 100 ms."""
BARE = {
    "bare ping": "/bare/ping",
    "bare list": "/bare/products",
    "bare wait": f"/bare/wait?ms={WAIT_MS}",
}


@dataclass(frozen=True)
class Candidate:
    """One way to serve the application."""

    name: str
    interface: str  # "asgi" or "wsgi"
    command: tuple[str, ...]  # {app} and {port} are filled in

    def argv(self, app: str, port: int) -> list[str]:
        """The command line for one application on one port.

        Args:
            app: ``module:attribute``.
            port: The port.

        Returns:
            The command.
        """
        return [part.format(app=app, port=port) for part in self.command]


SHIPPED: dict[Interface, str] = {"wsgi": "granian, WSGI", "asgi": "granian, ASGI"}
"""What the deploy files run: granian's WSGI interface for all but the async API, which its ASGI
interface on uvloop serves."""


def shipped_command(interface: Interface) -> tuple[str, ...]:
    """A deploy files' server command, :data:`WORKERS` workers, ``{app}`` and ``{port}`` to fill.

    Args:
        interface: ``wsgi`` or ``asgi``.

    Returns:
        The command template.
    """
    args = shop_server_args(interface=interface, host="127.0.0.1", port=0, application="{app}")
    args[args.index("--port") + 1] = "{port}"
    return (sys.executable, "-m", "granian", "--workers", str(WORKERS), "--log-level", "warning",
            *args)  # fmt: skip


UVICORN = (sys.executable, "-m", "uvicorn", "{app}", "--host", "127.0.0.1", "--port", "{port}",
           "--workers", str(WORKERS), "--log-level", "warning", "--no-access-log")  # fmt: skip
CANDIDATES = [
    Candidate(
        "uvicorn, ASGI (h11, asyncio)", "asgi", (*UVICORN, "--http", "h11", "--loop", "asyncio")
    ),
    Candidate(
        "uvicorn, ASGI (httptools, uvloop)",
        "asgi",
        (*UVICORN, "--http", "httptools", "--loop", "uvloop"),
    ),
    Candidate(SHIPPED["asgi"], "asgi", shipped_command("asgi")),
    Candidate(SHIPPED["wsgi"], "wsgi", shipped_command("wsgi")),
    Candidate(
        "gunicorn, WSGI (gthread)",
        "wsgi",
        (
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--threads",
            "4",
            "--worker-class",
            "gthread",
            "--bind",
            "127.0.0.1:{port}",
            "--log-level",
            "warning",
            "{app}",
        ),
    ),
]


def apps(interface: str) -> list[tuple[str, str, dict[str, str]]]:
    """The shop and the bare baseline, as the interface serves them.

    Args:
        interface: ``asgi`` or ``wsgi``.

    Returns:
        (settings module, ``module:attribute``, paths) for each.
    """
    shop = (
        "fashionistar.project.asgi:application"
        if interface == "asgi"
        else ("fashionistar.project.wsgi:application")
    )
    return [
        ("fashionistar.project.settings", shop, SHOP),
        ("bare_django", f"bare_django:{interface}", BARE),
    ]


def serve(
    argv: list[str], env: dict[str, str], port: int, ready_path: str
) -> subprocess.Popen[bytes]:
    """Start a server in a session of its own and wait until a path answers 200.

    Args:
        argv: The command.
        env: Its environment.
        port: Its port.
        ready_path: The path to wait on.

    Returns:
        The process.

    Raises:
        RuntimeError: It exited, or did not answer within a minute.
    """
    server = subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"{argv[:4]} exited: {server.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ready_path}", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(server)
    raise RuntimeError(f"{argv[:4]} did not answer on {ready_path}")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop a server and its workers.

    Args:
        server: The process (the leader of its session).
    """
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def measure(url: str, *, seconds: float, repeats: int) -> dict[str, Any]:
    """Load one URL ``repeats`` times after a warm-up.

    Args:
        url: The URL.
        seconds: Each run's length.
        repeats: How many runs.

    Returns:
        Median, lowest and highest requests/s, the median p95 and the errors.
    """
    wrk(url, connections=CONNECTIONS, seconds=1)  # warm-up: imports, pools, caches
    runs = [wrk(url, connections=CONNECTIONS, seconds=seconds) for _ in range(repeats)]
    rates = [run["requests_per_s"] for run in runs]
    return {
        "rates": rates,
        "requests_per_s": statistics.median(rates),
        "lowest": min(rates),
        "highest": max(rates),
        "p95_ms": statistics.median(run["p95_ms"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
    }


ROUTED = ("DRF list", "Ninja list")
"""The paths also measured through the router, in front of both shipped servers."""


def measure_routed(env: dict[str, str], *, seconds: float, repeats: int) -> dict[str, Any]:
    """Load the shop's lists through the router in front of both shipped servers.

    Args:
        env: The shop's environment.
        seconds: Each wrk run's length.
        repeats: Runs per path.

    Returns:
        Figures by path.
    """
    router_port, wsgi_port, asgi_port = free_ports(3)
    folder = Path(tempfile.mkdtemp(prefix="fashionistar-router-"))
    config = router_config(
        folder=folder, port=router_port, wsgi_port=wsgi_port, asgi_port=asgi_port
    )
    servers = []
    try:
        for interface, port in (("wsgi", wsgi_port), ("asgi", asgi_port)):
            app = apps(interface)[0][1]
            argv = Candidate(SHIPPED[interface], interface, shipped_command(interface)).argv(
                app, port
            )
            servers.append(serve(argv, env, port, "/livez"))
        servers.append(
            serve(router_command(ensure_binaries().nginx, config), env, router_port, "/livez")
        )
        figures = {}
        for label in ROUTED:
            url = f"http://127.0.0.1:{router_port}{SHOP[label]}"
            figures[label] = measure(url, seconds=seconds, repeats=repeats)
            print(f"{'through the router':36} {label:11} "
                  f"{figures[label]['requests_per_s']:8.0f} req/s", flush=True)  # fmt: skip
        return figures
    finally:
        for server in reversed(servers):
            stop(server)
        shutil.rmtree(folder, ignore_errors=True)


def run(*, seconds: float, repeats: int) -> dict[str, Any]:
    """Measure every candidate on the shop and on bare Django, then the shipped pair routed.

    Args:
        seconds: Each wrk run's length.
        repeats: Runs per path.

    Returns:
        Figures by candidate and path, and the first line of the table (:class:`Watch`).
    """
    watch = Watch()
    figures: dict[str, dict[str, Any]] = {}
    with prepared_stack(demo_stock=1_000_000) as stack_env:
        for candidate in CANDIDATES:
            figures[candidate.name] = {}
            for settings, app, paths in apps(candidate.interface):
                port = free_port()
                env = {
                    **stack_env,
                    "DJANGO_SETTINGS_MODULE": settings,
                    "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]),
                    "LOG_LEVEL": "WARNING",
                }
                server = serve(candidate.argv(app, port), env, port, next(iter(paths.values())))
                try:
                    for label, path in paths.items():
                        result = measure(
                            f"http://127.0.0.1:{port}{path}", seconds=seconds, repeats=repeats
                        )
                        figures[candidate.name][label] = result
                        print(
                            f"{candidate.name:36} {label:11} {result['requests_per_s']:8.0f} req/s"
                            f" ({result['lowest']:.0f} to {result['highest']:.0f}),"
                            f" p95 {result['p95_ms']:.1f} ms, errors {result['errors']}",
                            flush=True,
                        )
                finally:
                    stop(server)
        env = {**stack_env, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]),
               "LOG_LEVEL": "WARNING"}  # fmt: skip
        routed = measure_routed(env, seconds=seconds, repeats=repeats)
    taken_on = watch.taken_on()
    return {"figures": figures, "routed": routed, "taken_on": taken_on, "quiet": watch.quiet}


def markdown(report: dict[str, Any], *, seconds: float, repeats: int) -> str:
    """The table for the Benchmarks page.

    Args:
        report: What :func:`run` returned.
        seconds: Each wrk run's length.
        repeats: Runs per path.

    Returns:
        Markdown.
    """
    conditions = (
        f"{WORKERS} worker processes per server; wrk 1 thread, {CONNECTIONS} connections, "
        f"{repeats} runs of {seconds:g} s per cell after a 1 s warm-up, on the same machine. "
        f"`bare wait`: an async view that waits {WAIT_MS} ms on nothing but time, as on a "
        f"partner; {CONNECTIONS} connections allow at most "
        f"{CONNECTIONS * 1000 / WAIT_MS:,.0f} such requests a second."
    )
    columns = ["bare ping", "livez", "bare list", "DRF list", "Ninja list", "bare wait"]
    lines = [
        report["taken_on"],
        "",
        conditions,
        "",
        "| server | " + " | ".join(columns) + " | DRF / bare list | livez / bare ping |",
        "|---" * (len(columns) + 3) + "|",
    ]
    for name, cells in report["figures"].items():
        shown = []
        for column in columns:
            cell = cells[column]
            shown.append(
                f"{cell['requests_per_s']:,.0f} ({cell['lowest']:,.0f} to {cell['highest']:,.0f})"
                + (f", {cell['errors']} errors" if cell["errors"] else "")
            )
        drf = cells["DRF list"]["requests_per_s"] / cells["bare list"]["requests_per_s"]
        live = cells["livez"]["requests_per_s"] / cells["bare ping"]["requests_per_s"]
        lines.append(f"| {name} | " + " | ".join(shown) + f" | {drf:.2f} | {live:.2f} |")
    figures = report["figures"]

    def rate(name: str, column: str) -> float:
        return float(figures[name][column]["requests_per_s"])

    def fastest_other(interface: Interface | None, column: str) -> str:
        return max(
            (
                c.name
                for c in CANDIDATES
                if interface in (None, c.interface) and c.name not in SHIPPED.values()
            ),
            key=lambda name: rate(name, column),
        )

    wsgi, asgi = SHIPPED["wsgi"], SHIPPED["asgi"]
    drf_rival, ninja_rival = fastest_other(None, "DRF list"), fastest_other("asgi", "Ninja list")
    lines += [
        "",
        f"Shipped: Django REST Framework, the admin and the pages under **{wsgi}**, the async "
        f"API under **{asgi}**, a router in front. DRF list: {wsgi} "
        f"x{rate(wsgi, 'DRF list') / rate(asgi, 'DRF list'):.2f} {asgi}, "
        f"x{rate(wsgi, 'DRF list') / rate(drf_rival, 'DRF list'):.2f} the fastest other server "
        f"({drf_rival}). Ninja list: {asgi} "
        f"x{rate(asgi, 'Ninja list') / rate(ninja_rival, 'Ninja list'):.2f} the fastest other "
        f"ASGI server ({ninja_rival}).",
    ]
    if routed := report.get("routed"):
        through = "; ".join(
            f"{label} {routed[label]['requests_per_s']:,.0f} req/s "
            f"({routed[label]['lowest']:,.0f} to {routed[label]['highest']:,.0f}), "
            f"x{routed[label]['requests_per_s'] / rate(SHIPPED[interface], label):.2f} "
            f"its server direct"
            for label, interface in zip(ROUTED, ("wsgi", "asgi"), strict=True)
        )
        lines += [
            "",
            f"Through the router (nginx, one worker process, on the same cores) in front of both "
            f"shipped servers: {through}.",
        ]
    lines.append("")
    lines.append(
        "Requests/s: the median of the runs (lowest to highest). p95 in ms, same order: "
        + "; ".join(
            f"{name}: " + ", ".join(f"{cells[column]['p95_ms']:.1f}" for column in columns)
            for name, cells in report["figures"].items()
        )
        + "."
    )
    lines += ["", verdict_lines([livez_verdict(report)])]
    return "\n".join(lines) + "\n"


LIVEZ_CLAIM = "project target: /livez at 0.5x bare Django's ping or more, under the same server"
LIVEZ_SHARE = Target(0.5)


def livez_verdict(report: dict[str, Any]) -> Verdict:
    """Judge ``/livez`` against bare Django's ping under each shipped server, run by run.

    The shop's probe crosses every middleware; the ping crosses none. Each run of ``/livez`` is
    set against the same run of the ping under the same server.

    Args:
        report: What :func:`run` measured.

    Returns:
        The verdict.
    """
    shares: dict[str, list[float]] = {}
    for name in SHIPPED.values():
        cells = report["figures"][name]
        shares[name] = [
            ratio(live, ping)
            for live, ping in zip(cells["livez"]["rates"], cells["bare ping"]["rates"], strict=True)
        ]
    measured = "; ".join(
        f"{name}: " + ", ".join(f"{share:.2f}" for share in values)
        for name, values in shares.items()
    )
    return judge(
        [share for values in shares.values() for share in values],
        LIVEZ_SHARE,
        quiet=bool(report.get("quiet")),
        claim=LIVEZ_CLAIM,
        measured=f"each run's /livez over the same run's bare ping, {measured}",
        section="servers",
    )


def main(argv: list[str] | None = None) -> int:
    """Measure and print; write the table when asked.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path)
    options = parser.parse_args(argv)
    report = run(seconds=options.seconds, repeats=options.repeats)
    text = markdown(report, seconds=options.seconds, repeats=options.repeats)
    print(text)
    if options.markdown:
        options.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
