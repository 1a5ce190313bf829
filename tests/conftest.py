"""Fixtures shared across the tests: a headless Chromium, task settings and a mailbox, and the
shop run as its image runs it.

Both are started once for the run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fashionistar_dev.processes import free_port
from fashionistar_dev.stack.binaries import apt_install
from tests.processes import wait_for
from tests.site.devtools import Browser, headless_chromium

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_PACKAGES = ("chromium", "chromium-driver")


def find_chromium() -> str | None:
    """Path of the Chromium binary, if one is installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    """A Chromium binary: installed with apt-get when missing and we are root, else a skip."""
    binary = find_chromium()
    if binary is None and apt_install(CHROMIUM_PACKAGES):
        binary = find_chromium()
    if binary is None:
        pytest.skip(
            "Chromium is not installed and this is not root: install the Debian packages "
            f"{' '.join(CHROMIUM_PACKAGES)} to run the browser tests"
        )
    return binary


@pytest.fixture(scope="session")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium with one page, for every browser test of the run."""
    with headless_chromium(chromium, tmp_path_factory.mktemp("chromium-profile")) as browser:
        yield browser


# --- tasks: short retries, a real SMTP server ---------------------------------------------


@pytest.fixture
def fast_retries(settings, clean_redis) -> dict[str, Any]:
    """Retries after 0 s, so a burst worker runs every attempt at once."""
    tasks = {**settings.TASKS["default"]}
    tasks["OPTIONS"] = {
        **tasks["OPTIONS"],
        "RETRY": {queue: {"max": 3, "intervals": [0]} for queue in tasks["QUEUES"]},
        "SWEEP_AFTER_S": 0,
    }
    settings.TASKS = {"default": tasks}
    return tasks


@pytest.fixture
def mailbox(settings) -> Iterator[list[Any]]:
    """A real SMTP server (aiosmtpd) on a free port; the list fills with what it receives."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    from fashionistar_dev.processes import free_port

    received: list[Any] = []

    class Collect(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    smtp_log = logging.getLogger("mail.log")  # a line per SMTP command, late, from its thread
    level = smtp_log.level
    smtp_log.setLevel(logging.WARNING)
    controller = Controller(Collect(), hostname="127.0.0.1", port=free_port())
    controller.start()
    # Django's test set-up swaps every mailer for the in-memory one: put the real ones back.
    settings.MAILERS = {
        "default": {"BACKEND": "fashionistar.tasks.email.TaskEmailBackend"},
        "smtp": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": controller.port, "timeout": 5},
        },
    }
    yield received
    controller.stop()
    smtp_log.setLevel(level)


# --- the production rehearsal: the image's dependencies, settings and command, on this stack ---

HOST = "shop.example"
BEHIND_TLS_PROXY = {"Host": HOST, "X-Forwarded-Proto": "https"}
"""What a request carries after the load balancer that ends TLS."""
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
INSTRUCTION = re.compile(r"^([A-Z]+) ((?:.*\\\n)*.*)$", re.MULTILINE)


@dataclass
class Production:
    """The shop installed and run as its image runs it: its own virtual environment, no dev tooling.

    Attributes:
        venv: The environment ``uv sync --no-dev --no-editable`` made.
        app: The image's ``/app``: ``manage.py`` and the collected static files.
        env: The image's ``ENV`` plus what a deployment sets, pointed at this run's stack.
        command: The image's ``CMD``.
        url: Where that command answers, with ``env`` (set by the fixture).
    """

    venv: Path
    app: Path
    env: dict[str, str]
    command: list[str]
    url: str = ""

    def manage(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``python manage.py ...`` the way ``docker run IMAGE python manage.py`` would."""
        return subprocess.run(
            ["python", "manage.py", *args], cwd=self.app, env={**self.env, **env},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    @contextmanager
    def server(self, **env: str) -> Iterator[str]:
        """The image's ``CMD`` on a free loopback port instead of ``0.0.0.0:8000``: its URL."""
        port = free_port()
        command = [*self.command]
        command[command.index("--host") + 1] = "127.0.0.1"
        command[command.index("--port") + 1] = str(port)
        server = subprocess.Popen(
            command, cwd=self.app, env={**self.env, **env}, start_new_session=True
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(
                lambda: server.poll() is not None or httpx.get(f"{url}/livez", timeout=2),
                60,
                errors=(httpx.TransportError,),
            )
            assert server.poll() is None, "the image's server command exited"
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def runtime_stage() -> tuple[dict[str, str], list[str], list[str]]:
    """The Dockerfile's runtime stage: its ``ENV`` variables, ``RUN`` commands and ``CMD``."""
    stage = DOCKERFILE.read_text().split(" AS runtime", 1)[1]
    env: dict[str, str] = {}
    runs: list[str] = []
    cmd: list[str] = []
    for keyword, text in INSTRUCTION.findall(stage):
        text = re.sub(r"\\\n\s*", " ", text)
        if keyword == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(text))
        elif keyword == "RUN":
            runs.append(text)
        elif keyword == "CMD":
            cmd = json.loads(text)
    return env, runs, cmd


def production_environment(venv: Path, app: Path, image_env: dict[str, str]) -> dict[str, str]:
    """The image's environment with ``/app`` here, plus a deployment's variables and this stack."""
    stack = {name: os.environ[name] for name in ("DATABASE_URL", "REDIS_URL")}
    env = {name: value.replace("/app", str(app)) for name, value in image_env.items()}
    env["PATH"] = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    return {
        **env,
        **stack,
        "HOME": str(app),
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    """Build and start the shop as ``deploy/Dockerfile`` does, without Docker.

    The build stage's ``uv sync --frozen --no-dev --no-editable`` into a fresh environment; the
    runtime stage's ``manage.py``, ``ENV`` and ``RUN`` (``collectstatic``); then its ``CMD``.
    """
    root = tmp_path_factory.mktemp("production")
    venv, app = root / "venv", root / "app"
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build the production environment (make runs the tests with it)"
    subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--quiet"],
        cwd=ROOT, env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}, check=True,
    )  # fmt: skip
    app.mkdir()
    shutil.copy2(ROOT / "manage.py", app / "manage.py")
    image_env, runs, cmd = runtime_stage()
    env = production_environment(venv, app, image_env)
    for run in runs:
        if "manage.py" in run:
            subprocess.run(["sh", "-c", run], cwd=app, env=env, check=True)
    production = Production(venv=venv, app=app, env=env, command=cmd)
    with production.server() as production.url:
        yield production


# --- the order in which parallel workers take the test files --------------------------------

SLOW_FIRST = (
    "tests/benchmarks/test_harness.py",
    "tests/hostile/test_schemathesis.py",
    "tests/site/test_workshop.py",
    "tests/test_serve.py",
    "tests/tasks/test_failover.py",
)
"""The longest files: a parallel run hands them out first, so none of them starts last."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest test files first (pytest-xdist's ``loadfile`` keeps this order)."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)
