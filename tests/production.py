"""The production rehearsal: the image's environment and commands, run from a --no-dev venv."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from fashionistar_dev.processes import free_port
from fashionistar_dev.router import router_command, router_config
from fashionistar_dev.stack.binaries import ensure_binaries
from tests.processes import ROOT, wait_for

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

    @contextmanager
    def routed(self, asgi_command: list[str], folder: Path, **env: str) -> Iterator[str]:
        """The image's ``CMD`` and the ASGI server's command, nginx in front: the router's URL.

        Args:
            asgi_command: The ASGI server's command, as a deploy file gives it.
            folder: Where the router keeps its files.
            **env: More environment for both servers.
        """
        asgi = dataclasses.replace(self, command=asgi_command)
        with self.server(**env) as wsgi_url, asgi.server(**env) as asgi_url:
            port = free_port()
            config = router_config(
                folder=folder,
                port=port,
                wsgi_port=int(wsgi_url.rsplit(":", 1)[1]),
                asgi_port=int(asgi_url.rsplit(":", 1)[1]),
            )
            router = subprocess.Popen(
                router_command(ensure_binaries().nginx, config), start_new_session=True
            )
            url = f"http://127.0.0.1:{port}"
            try:
                wait_for(lambda: httpx.get(f"{url}/livez", timeout=2), 30,
                         errors=(httpx.TransportError,))  # fmt: skip
                yield url
            finally:
                router.terminate()
                router.wait(timeout=15)


def runtime_stage() -> tuple[dict[str, str], list[str], list[str]]:
    """The Dockerfile's runtime stage: its ``ENV`` variables, ``RUN`` commands and ``CMD``."""
    return dockerfile_stage("runtime")


def dockerfile_stage(name: str) -> tuple[dict[str, str], list[str], list[str]]:
    """One stage of the Dockerfile (``FROM ... AS name``): its ``ENV``, ``RUN`` and ``CMD``."""
    stage = DOCKERFILE.read_text().split(f" AS {name}\n", 1)[1].split("\nFROM ", 1)[0]
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
