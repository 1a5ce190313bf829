"""Send a request through Django's real async handler chain and count its thread hops."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, async_to_sync
from django.http import HttpRequest
from django.http.response import HttpResponseBase


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """Every function run through ``sync_to_async`` while the test runs."""
    ran: list[Callable[..., Any]] = []
    original = SyncToAsync.__call__

    async def counted(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        ran.append(self.func)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    return ran


def serve_async(
    request: HttpRequest, *, middleware: list[str], urlconf: str, settings: Any
) -> tuple[HttpResponseBase, int]:
    """Send one request through the chain the ASGI application builds from ``middleware``.

    Returns:
        The response and the event loop's thread.
    """
    from fashionistar.kernel.middleware import ASGIHandler  # imports models: Django first

    settings.MIDDLEWARE = middleware
    settings.ROOT_URLCONF = urlconf
    handler = ASGIHandler()  # builds its chain at once

    async def send() -> tuple[HttpResponseBase, int]:
        return await handler.get_response_async(request), threading.get_ident()

    return async_to_sync(send)()


def hop_names(hops: list[Callable[..., Any]]) -> list[str]:
    """The qualified names of the functions that hopped, sorted."""
    return sorted(getattr(func, "__qualname__", repr(func)) for func in hops)
