"""Fixtures of the workshop exercises: the participant's module, their folder, log lines, URLs.

``check.py`` sets ``FASHIONISTAR_EXERCISE_AGAINST`` to ``start`` (the participant's files, the
default) or ``solution`` (the reference); each exercise's test names the file it loads in
``PARTICIPANT_FILE``.
"""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from fashionistar.observability.logging import NonBlockingHandler, json_formatter

AGAINST_VARIABLE = "FASHIONISTAR_EXERCISE_AGAINST"


@pytest.fixture
def exercise_files(request: pytest.FixtureRequest) -> Path:
    """The folder under test: the exercise's ``start/`` or ``solution/``."""
    against = os.environ.get(AGAINST_VARIABLE, "start")
    return Path(request.path).parent / against


@pytest.fixture
def participant(request: pytest.FixtureRequest, exercise_files: Path) -> Iterator[ModuleType]:
    """Load the file under test, fresh for each test.

    It is registered in ``sys.modules`` while the test runs, so that what is found by its
    dotted path works too (a task the worker imports by name).
    """
    path = exercise_files / request.module.PARTICIPANT_FILE
    name = f"workshop_{path.parent.parent.name[:2]}_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None, f"cannot load {path}"
    assert spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(name, None)


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The shop's JSON log handler on the root logger, writing to a buffer: call to read it."""
    stream = io.StringIO()
    handler = NonBlockingHandler(stream)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    root.addHandler(handler)

    def read() -> list[dict[str, Any]]:
        handler.flush()
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield read
    root.removeHandler(handler)
    handler.close()


@pytest.fixture
def serve_urls(settings) -> Callable[[list[Any]], None]:
    """Route requests of Django's test clients to these URL patterns for the test."""

    def serve(patterns: list[Any]) -> None:
        urls = ModuleType("workshop_urls")  # a module: Django caches resolvers by URLconf
        urls.urlpatterns = patterns  # type: ignore[attr-defined]
        settings.ROOT_URLCONF = urls

    return serve


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung server."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]
