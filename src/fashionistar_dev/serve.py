"""``make serve``: the live shop next to the docs site, on a stack that keeps its data.

Starts the stack with its data in ``.stack/`` (reused next time), migrates, loads the demo
data, runs the app under uvicorn (ASGI), a task worker for every queue, a local SMTP server
that prints the shop's mail, and the docs under ``mkdocs serve``; prints the URLs, and stops
everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from fashionistar.observability.metrics import MULTIPROCESS_VARIABLE
from fashionistar_dev.stack import running_stack

PROJECT_DIR = Path(__file__).resolve().parents[2]


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


def serve_commands(*, app_port: int, docs_port: int, smtp_port: int) -> list[list[str]]:
    """Return the long-running processes: the ASGI app, a worker, an SMTP sink, the docs.

    Args:
        app_port: Port of the shop.
        docs_port: Port of the docs site.
        smtp_port: Port of the SMTP server that prints mail (aiosmtpd's debugging handler).

    Returns:
        The command lines.
    """
    python = sys.executable
    return [
        [python, str(PROJECT_DIR / "manage.py"), "run_worker"],
        [
            python,
            "-m",
            "aiosmtpd",
            "-n",
            "-c",
            "aiosmtpd.handlers.Debugging",
            "-l",
            f"127.0.0.1:{smtp_port}",
        ],
        [
            python,
            "-m",
            "uvicorn",
            "fashionistar.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(app_port),
            "--workers",
            "2",
        ],
        [python, "-m", "mkdocs", "serve", "--dev-addr", f"127.0.0.1:{docs_port}"],
    ]


def fresh_metrics_dir(data_dir: Path) -> Path:
    """Empty the directory where every process of this run writes its metric samples.

    Both uvicorn workers and the task workers write there, so a scrape of ``/metrics``, which
    one uvicorn worker answers, counts every process (``PROMETHEUS_MULTIPROC_DIR``).

    Args:
        data_dir: The stack's data directory.

    Returns:
        The directory, empty.
    """
    metrics_dir = data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    return metrics_dir


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shop and the docs until Ctrl-C.

    Args:
        argv: Command-line arguments (``--app-port``, ``--docs-port``, ``--data-dir``).

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-port", type=int, default=8000)
    parser.add_argument("--docs-port", type=int, default=8001)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--data-dir", type=Path, default=PROJECT_DIR / ".stack")
    args = parser.parse_args(argv)
    with running_stack(data_dir=args.data_dir) as stack:
        env = {
            **os.environ,
            **stack.urls.environ(),
            "DJANGO_SETTINGS_MODULE": "fashionistar.settings",
            "DJANGO_DEBUG": os.environ.get("DJANGO_DEBUG", "1"),
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(args.smtp_port),
        }
        env.setdefault("DJANGO_SECRET_KEY", local_secret_key(args.data_dir))
        env.setdefault(MULTIPROCESS_VARIABLE, str(fresh_metrics_dir(args.data_dir)))
        manage = [sys.executable, str(PROJECT_DIR / "manage.py")]
        subprocess.run([*manage, "migrate", "--verbosity", "0"], env=env, check=True)
        load_demo = "from fashionistar_dev.demo import demo_load; demo_load()"
        subprocess.run([*manage, "shell", "-c", load_demo], env=env, check=True)
        servers = [
            subprocess.Popen(cmd, env=env, cwd=PROJECT_DIR)
            for cmd in serve_commands(
                app_port=args.app_port, docs_port=args.docs_port, smtp_port=args.smtp_port
            )
        ]
        print(f"shop: http://127.0.0.1:{args.app_port}/  docs: http://127.0.0.1:{args.docs_port}/")
        print(f"mail the shop sends is printed here (SMTP on port {args.smtp_port})")
        print("Ctrl-C stops both and the stack (data is kept in .stack/).")
        try:
            for server in servers:
                server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
