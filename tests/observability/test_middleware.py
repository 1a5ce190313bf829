"""The project's middleware is natively sync and async: under ASGI it costs no thread hop.

Django runs a ``MiddlewareMixin`` middleware's ``process_request`` and ``process_response``
through ``sync_to_async`` under ASGI, a hop to a worker thread and back for each. The project's
own middleware has a sync and an async path instead; these tests count the hops a request makes
through Django's real handler chain.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.test import AsyncRequestFactory, RequestFactory
from django.urls import path
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from fashionistar.observability.context import current_request_id
from fashionistar.observability.metrics import _query_count
from fashionistar.observability.middleware import (
    REQUEST_ID_HEADER,
    MetricsMiddleware,
    RequestIdMiddleware,
    request_id_of,
)
from tests.middleware_chain import serve_async

PROJECT_PREFIX = "fashionistar."
DJANGOS_PREFIX = "fashionistar.kernel.middleware."

view_threads: list[int] = []


async def thread_probe(request: HttpRequest) -> HttpResponse:
    view_threads.append(threading.get_ident())
    return HttpResponse("ok")


urlpatterns = [path("probe", thread_probe)]  # this module is the tests' ROOT_URLCONF


def project_middleware() -> list[str]:
    """The project's own middleware (``fashionistar.kernel.middleware`` holds Django's)."""
    return [
        name
        for name in settings.MIDDLEWARE
        if name.startswith(PROJECT_PREFIX) and not name.startswith(DJANGOS_PREFIX)
    ]


@pytest.fixture
def hops(thread_hops: list[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """Every function run through ``sync_to_async`` while the test runs; no view has run yet."""
    view_threads.clear()
    return thread_hops


def serve(middleware: list[str], settings: Any) -> tuple[HttpResponseBase, int]:
    """Send one GET through Django's async handler chain; return the response and loop thread."""
    request = AsyncRequestFactory().get("/probe")
    return serve_async(request, middleware=middleware, urlconf=__name__, settings=settings)


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
    access_lines: list[tuple[str, int]] = []  # records do not carry their thread (logThreads)
    access_logger = logging.getLogger("fashionistar.request")
    handler = logging.Handler()
    handler.emit = lambda record: access_lines.append(  # type: ignore[method-assign]
        (record.getMessage(), threading.get_ident())
    )
    access_logger.addHandler(handler)
    try:
        response, loop_thread = serve(project_middleware(), settings)
    finally:
        access_logger.removeHandler(handler)

    assert response.status_code == 200
    assert response[REQUEST_ID_HEADER]
    assert hops == []
    # The view and the middleware's access line both ran on the event loop's thread.
    assert view_threads == [loop_thread]
    assert access_lines == [("GET /probe 200", loop_thread)]


class ClientLeft(Exception):
    """What the rest of the chain raises here (under ASGI, a cancelled request)."""


def chain_that_raises(request: HttpRequest) -> HttpResponseBase:
    assert current_request_id() == "req-gone"
    assert _query_count.get() is not None
    raise ClientLeft


async def async_chain_that_raises(request: HttpRequest) -> HttpResponseBase:
    return chain_that_raises(request)


def bound_after_raising(chain: Callable[[HttpRequest], Any]) -> tuple[object, object]:
    """Send a request through the request-id and metrics middleware, then ``chain``, which raises.

    Returns what is bound in the request's own context afterwards: its id and its query count.
    """
    handler = RequestIdMiddleware(MetricsMiddleware(chain))
    request = RequestFactory().get("/probe", headers={"X-Request-ID": "req-gone"})
    if iscoroutinefunction(chain):

        async def in_one_context() -> tuple[object, object]:
            with pytest.raises(ClientLeft):
                await handler(request)
            return current_request_id(), _query_count.get()

        return async_to_sync(in_one_context)()
    with pytest.raises(ClientLeft):
        handler(request)
    return current_request_id(), _query_count.get()


@pytest.mark.parametrize(
    "chain", [chain_that_raises, async_chain_that_raises], ids=["sync", "async"]
)
def test_a_chain_that_raises_leaves_no_line_and_nothing_bound(chain, caplog) -> None:
    with caplog.at_level(logging.DEBUG, logger="fashionistar.request"):
        assert bound_after_raising(chain) == (None, None)

    assert not [record for record in caplog.records if record.name == "fashionistar.request"]


REQUEST = RequestFactory().get("/")


def test_drawing_a_request_id_lets_no_other_thread_run() -> None:
    """A thread waiting for the GIL can take it only when a draw releases it: none does."""
    go = threading.Event()
    turns: list[int] = []
    other = threading.Thread(target=lambda: go.wait() and turns.append(1))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1.0)  # no forced switch while the ids are drawn, even on a slow core
    try:
        other.start()
        go.set()
        awake = time.perf_counter() + 0.02  # holding the GIL, long enough for it to wake
        while time.perf_counter() < awake:
            pass
        drawn = {request_id_of(REQUEST) for _ in range(2000)}  # os.urandom: a release each
        ran_meanwhile = bool(turns)
    finally:
        sys.setswitchinterval(interval)
        other.join()
    assert not ran_meanwhile
    assert len(drawn) == 2000
    assert turns == [1]


def test_forked_workers_draw_their_own_request_ids() -> None:
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
        child = os.fork()
    if child == 0:
        os.write(write_end, request_id_of(REQUEST).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end) as pipe:
        childs = pipe.read()
    assert re.fullmatch(r"[0-9a-f]{32}", childs)
    assert childs != request_id_of(REQUEST)
