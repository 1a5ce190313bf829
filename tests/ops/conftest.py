"""Fixtures for the operations tests: a fresh instance to restore into, a live server, a worker."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from fashionistar_dev.stack import RunningStack, start_stack
from tests.processes import spawn_worker, stop


@pytest.fixture
def fresh_instance() -> Iterator[RunningStack]:
    """A new native stack that has never seen the shop's data; destroyed (files too) after."""
    stack = start_stack(environ={"FASHIONISTAR_STACK": "native"})
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def critical_worker() -> Iterator[subprocess.Popen[bytes]]:
    """``manage.py run_worker critical``, a real worker process."""
    worker = spawn_worker("critical")
    try:
        yield worker
    finally:
        stop(worker)
