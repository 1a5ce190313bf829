"""The project's middleware is natively sync and async: under ASGI it costs no thread hop.

Django runs a ``MiddlewareMixin`` middleware's ``process_request`` and ``process_response``
through ``sync_to_async`` under ASGI, a hop to a worker thread and back for each. The project's
own middleware has a sync and an async path instead; these tests count the hops a request makes
through Django's real handler chain.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import SyncToAsync, async_to_sync, iscoroutinefunction
from django.conf import settings
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponse
from django.test import AsyncRequestFactory
from django.urls import path
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from fashionistar.observability.middleware import REQUEST_ID_HEADER

PROJECT_PREFIX = "fashionistar."

view_threads: list[int] = []


async def thread_probe(request: HttpRequest) -> HttpResponse:
    view_threads.append(threading.get_ident())
    return HttpResponse("ok")


urlpatterns = [path("probe", thread_probe)]  # this module is the tests' ROOT_URLCONF


def project_middleware() -> list[str]:
    return [name for name in settings.MIDDLEWARE if name.startswith(PROJECT_PREFIX)]


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[Callable[..., Any]]:
    """Every function run through ``sync_to_async`` while the test runs."""
    ran: list[Callable[..., Any]] = []
    original = SyncToAsync.__call__

    async def counted(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        ran.append(self.func)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "__call__", counted)
    view_threads.clear()
    return ran


def serve(middleware: list[str], settings: Any) -> tuple[HttpResponse, int]:
    """Send one GET through Django's async handler chain; return the response and loop thread."""
    settings.MIDDLEWARE = middleware
    settings.ROOT_URLCONF = __name__
    handler = BaseHandler()
    handler.load_middleware(is_async=True)

    async def send() -> tuple[HttpResponse, int]:
        request = AsyncRequestFactory().get("/probe")
        return await handler.get_response_async(request), threading.get_ident()

    return async_to_sync(send)()


@pytest.mark.parametrize("name", project_middleware())
def test_each_project_middleware_takes_the_mode_of_the_chain(name: str) -> None:
    middleware_class = import_string(name)

    async def async_chain(request: HttpRequest) -> HttpResponse:
        return HttpResponse()

    assert (middleware_class.sync_capable, middleware_class.async_capable) == (True, True)
    assert not issubclass(middleware_class, MiddlewareMixin)
    assert iscoroutinefunction(middleware_class(async_chain))
    assert not iscoroutinefunction(middleware_class(lambda request: HttpResponse()))


def test_an_async_request_crosses_the_project_middleware_without_a_thread_hop(
    hops, settings, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="fashionistar.request")

    response, loop_thread = serve(project_middleware(), settings)

    assert response.status_code == 200
    assert response[REQUEST_ID_HEADER]
    assert hops == []
    # The view and the middleware's access line both ran on the event loop's thread.
    assert view_threads == [loop_thread]
    (access,) = [r for r in caplog.records if r.name == "fashionistar.request"]
    assert access.getMessage() == "GET /probe 200"
    assert access.thread == loop_thread


def test_only_djangos_mixin_middleware_hops_threads(hops, settings) -> None:
    """Each ``MiddlewareMixin`` method costs one hop; the project's middleware adds none."""
    expected = []
    for name in settings.MIDDLEWARE:
        middleware_class = import_string(name)
        if issubclass(middleware_class, MiddlewareMixin):
            expected += [
                f"{middleware_class.__qualname__}.{method}"
                for method in ("process_request", "process_view", "process_response")
                if hasattr(middleware_class, method)
            ]

    response, loop_thread = serve(settings.MIDDLEWARE, settings)

    assert response.status_code == 200
    assert sorted(func.__qualname__ for func in hops) == sorted(expected)
    assert view_threads == [loop_thread]
