"""``make serve``: the live shop next to the docs site, on a stack that keeps its data.

Starts the stack with its data kept for the next start, migrates, collects the static files,
loads the demo data, then runs the shop as the deploy files do: granian's WSGI server for
everything but the async API, its ASGI server for ``/api/async/``, and nginx in front of both
with Compose's server block (:mod:`fashionistar_dev.router`); a task worker for every queue, a
local SMTP server that prints the shop's mail, and the docs under ``mkdocs serve``. It prints
the addresses once each one answers, and stops everything, the stack included, on Ctrl-C, on
SIGTERM or SIGHUP, when its parent process dies, or when the job that started it is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import httpx

from fashionistar.observability.metrics import MULTIPROCESS_VARIABLE
from fashionistar_dev.demo import (
    DEMO_ADMIN_PASSWORD,
    DEMO_ADMIN_USERNAME,
    DEMO_PASSWORD,
    DEMO_USERNAME,
)
from fashionistar_dev.processes import (
    Service,
    accepts,
    job_leader_gone,
    spawn_service,
    stopped_by_signals,
    wait_ready,
)
from fashionistar_dev.router import listening_port, routed_shop_commands
from fashionistar_dev.stack import running_stack

PROJECT_DIR = Path(__file__).resolve().parents[2]
ROOT_DATA_DIR = Path("/var/lib/fashionistar")
"""Where a root user's data goes: the servers run as an unprivileged user that may not be able
to enter the clone (a folder only its owner may enter, anywhere under ``/root``)."""
DEMO_LOGINS = f"{DEMO_ADMIN_USERNAME}:{DEMO_ADMIN_PASSWORD},{DEMO_USERNAME}:{DEMO_PASSWORD}"
WATCH_INTERVAL_S = 0.5
START_TIMEOUT_S = 180.0
"""The docs site builds before it answers: a minute or more on a busy machine."""


class ServeError(RuntimeError):
    """A server of ``make serve`` stopped on its own; the message says which."""


def default_data_dir(project_dir: Path = PROJECT_DIR) -> Path:
    """Return where ``make serve`` keeps its data unless ``--data-dir`` says otherwise.

    Args:
        project_dir: The clone.

    Returns:
        ``.stack/`` in the clone; as root, a folder of this clone's own under
        ``/var/lib/fashionistar/``, which the servers' unprivileged user can reach.
    """
    if os.geteuid() != 0:
        return project_dir / ".stack"
    digest = hashlib.sha256(str(project_dir).encode()).hexdigest()[:8]
    return ROOT_DATA_DIR / f"{project_dir.name}-{digest}"


def local_secret_key(data_dir: Path) -> str:
    """Return the demo's secret key, made once and kept next to its data.

    Args:
        data_dir: The stack's data directory.

    Returns:
        The key (sessions survive a restart of ``make serve``).
    """
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def serve_commands(
    *, data_dir: Path, app_port: int, docs_port: int, smtp_port: int
) -> dict[str, list[str]]:
    """Return the long-running processes by name: a worker, an SMTP sink, the shop, the docs.

    Args:
        data_dir: Where the router keeps its configuration.
        app_port: Port of the shop (its router).
        docs_port: Port of the docs site.
        smtp_port: Port of the SMTP server that prints mail (aiosmtpd's debugging handler).

    Returns:
        The command lines, in the order they start.
    """
    python = sys.executable
    shop = routed_shop_commands(folder=data_dir / "router", port=app_port, workers=2)
    return {
        # The deploy files' workers: two simple workers under one parent, on every queue.
        "worker": [
            python,
            str(PROJECT_DIR / "manage.py"),
            "run_worker",
            "--kind",
            "simple",
            "--processes",
            "2",
        ],
        "mail": [
            python,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Debugging",
            "-l",
            f"127.0.0.1:{smtp_port}",
        ],
        # The deploy files' two servers, with two worker processes each, and the router.
        "shop-wsgi": shop["shop-wsgi"],
        "shop-asgi": shop["shop-asgi"],
        "shop": shop["router"],
        # The theme's overrides are watched too: by itself, mkdocs serve watches the docs and
        # mkdocs.yml only.
        "docs": [
            python,
            "-m",
            "mkdocs",
            "serve",
            "--dev-addr",
            f"127.0.0.1:{docs_port}",
            "--watch",
            str(PROJECT_DIR / "overrides"),
        ],
    }


def fresh_metrics_dir(data_dir: Path) -> Path:
    """Empty the directory where every process of this run writes its metric samples.

    Both servers' workers and the task workers write there, so a scrape of ``/metrics``, which
    one worker answers, counts every process (``PROMETHEUS_MULTIPROC_DIR``).

    Args:
        data_dir: The stack's data directory.

    Returns:
        The directory, empty.
    """
    metrics_dir = data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    return metrics_dir


def prepare(manage: list[str], env: dict[str, str]) -> None:
    """Migrate, collect the static files, and load the demo data and logins.

    Args:
        manage: ``python manage.py``.
        env: The environment of the shop.
    """
    subprocess.run([*manage, "migrate", "--verbosity", "0"], env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], env=env, check=True)
    load_demo = "from fashionistar_dev.demo.load import demo_load; demo_load(with_admin=True)"
    subprocess.run([*manage, "shell", "-c", load_demo], env=env, check=True)


def start_servers(
    commands: dict[str, list[str]], env: dict[str, str], running: contextlib.ExitStack
) -> list[Service]:
    """Start each server in its own session; each gets SIGTERM if we die.

    Args:
        commands: The command lines by name.
        env: Their environment.
        running: Stops each server when it closes, the last started first.

    Returns:
        The servers, in the order they started.
    """
    servers = []
    for name, command in commands.items():
        server = spawn_service(
            root=PROJECT_DIR,
            user=None,
            name=name,
            args=command,
            stop_signal=signal.SIGTERM,
            to_log_file=False,
            env=env,
        )
        running.callback(server.stop)
        servers.append(server)
    return servers


def wait_answering(
    servers: list[Service], *, app_port: int, docs_port: int, smtp_port: int
) -> None:
    """Wait until the shop, the docs and the mail sink answer.

    Args:
        servers: The started servers, by the names of :func:`serve_commands`.
        app_port: Port of the shop.
        docs_port: Port of the docs site.
        smtp_port: Port of the mail sink.
    """
    by_name = {server.name: server for server in servers}
    wait_ready(by_name["mail"], functools.partial(accepts, smtp_port), timeout=START_TIMEOUT_S)
    for name in ("shop-wsgi", "shop-asgi"):
        # Their own ports first: until they listen, the router logs an error for each probe.
        port = listening_port(cast(list[str], by_name[name].process.args))
        wait_ready(by_name[name], functools.partial(accepts, port), timeout=START_TIMEOUT_S)
    checks = (
        ("shop", app_port, "/livez"),
        ("shop", app_port, "/api/async/docs"),
        ("docs", docs_port, "/"),
    )
    for name, port, path in checks:
        wait_ready(
            by_name[name],
            functools.partial(answers, f"http://127.0.0.1:{port}{path}"),
            timeout=START_TIMEOUT_S,
            errors=(httpx.HTTPError,),
        )


def answers(url: str) -> None:
    """Raise unless ``url`` answers with a success.

    Args:
        url: The address.
    """
    httpx.get(url, timeout=2).raise_for_status()


def watch(servers: list[Service]) -> None:
    """Return when the job that started us is gone; raise when a server stops on its own.

    Args:
        servers: The running servers.

    Raises:
        ServeError: One of them exited.
    """
    while not job_leader_gone():
        for server in servers:
            code = server.process.poll()
            if code is not None:
                raise ServeError(f"{server.name} exited with code {code}; stopping the rest")
        time.sleep(WATCH_INTERVAL_S)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shop and the docs until Ctrl-C or SIGTERM.

    Args:
        argv: Command-line arguments (``--app-port``, ``--docs-port``, ``--smtp-port``,
            ``--data-dir``).

    Returns:
        The exit code: 0 when stopped, 1 when a server stopped on its own.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-port", type=int, default=8000)
    parser.add_argument("--docs-port", type=int, default=8001)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    data_dir: Path = (args.data_dir or default_data_dir()).resolve()
    ports = {"app_port": args.app_port, "docs_port": args.docs_port, "smtp_port": args.smtp_port}
    with stopped_by_signals():
        try:
            with running_stack(data_dir=data_dir) as stack, contextlib.ExitStack() as running:
                env = {
                    **os.environ,
                    **stack.urls.environ(),
                    "DJANGO_SETTINGS_MODULE": "fashionistar.project.settings",
                    "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1"),
                    "DJANGO_STATIC_ROOT": str(data_dir / "static"),
                    "DOCS_SITE_URL": f"http://127.0.0.1:{args.docs_port}/",
                    "FASHIONISTAR_DEMO_LOGINS": DEMO_LOGINS,
                    "EMAIL_HOST": "127.0.0.1",
                    "EMAIL_PORT": str(args.smtp_port),
                }
                env.setdefault("DJANGO_SECRET_KEY", local_secret_key(data_dir))
                # As the deploy files run the workers: RQ's INFO lines, per task and per
                # maintenance pass, would bury the mail printed here; retries and failures show.
                env.setdefault("TASK_WORKER_LOG_LEVEL", "WARNING")
                env.setdefault(MULTIPROCESS_VARIABLE, str(fresh_metrics_dir(data_dir)))
                prepare([sys.executable, str(PROJECT_DIR / "manage.py")], env)
                commands = serve_commands(data_dir=data_dir, **ports)
                servers = start_servers(commands, env, running)
                wait_answering(servers, **ports)
                print(f"\nthe shop:  http://127.0.0.1:{args.app_port}/  (demo logins listed there)")
                print(f"the docs:  http://127.0.0.1:{args.docs_port}/")
                print(f"mail the shop sends is printed here (SMTP on port {args.smtp_port})")
                print(f"data: {data_dir} (kept for the next start)")
                print("Ctrl-C stops everything.\n", flush=True)
                watch(servers)
        except KeyboardInterrupt:
            pass
        except ServeError as error:
            print(error, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
