"""Fixtures for the operations tests: a fresh instance to restore into, a live server, a worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from fashionistar_dev.processes import free_port
from fashionistar_dev.stack import RunningStack, start_stack
from tests.processes import spawn, spawn_worker, stop


@pytest.fixture
def fresh_instance() -> Iterator[RunningStack]:
    """A new native stack that has never seen the shop's data; destroyed (files too) after."""
    stack = start_stack(environ={"FASHIONISTAR_STACK": "native"})
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def shop_server() -> Iterator[str]:
    """The shop under uvicorn (ASGI) on a free port, on the run's stack: its base URL."""
    from tests.processes import wait_until_up  # imports models: Django first

    port = free_port()
    server = spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "fashionistar.project.asgi:application",
            "--port",
            str(port),
        ]
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base_url}/healthz")
        yield base_url
    finally:
        stop(server)


@pytest.fixture
def critical_worker() -> Iterator[subprocess.Popen[bytes]]:
    """``manage.py run_worker critical``, a real worker process."""
    worker = spawn_worker("critical")
    try:
        yield worker
    finally:
        stop(worker)
