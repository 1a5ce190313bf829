"""Fixtures for the payment tests: a fake gateway of their own, in a thread.

pytest imports this file before Django is set up: no model imports at the top.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fashionistar_dev.partners import GatewayServer, serve_in_thread


@pytest.fixture
def gateway(settings) -> Iterator[GatewayServer]:
    """A fresh fake gateway the application talks to: its charge count starts at zero."""
    with serve_in_thread() as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        yield server


@pytest.fixture
def customer() -> Any:
    from tests.factories import make_user

    return make_user()
