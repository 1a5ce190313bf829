"""Fixtures for the observability tests: JSON lines captured from the real handler."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fashionistar.observability.logging import NonBlockingHandler, json_formatter


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The project's handler on the root logger, writing to a buffer; call to read the lines."""
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
