"""Request middleware: the request id and access log line, and the request metrics.

Both work under WSGI and ASGI without a thread hop (each is sync and async capable) and go first
in ``MIDDLEWARE``, so that what the other middleware log carries the request id and their time
counts in the latency.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from fashionistar.observability.context import request_bound
from fashionistar.observability.metrics import counting_queries, request_observe

access_logger = logging.getLogger("fashionistar.request")

QUIET_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: their access lines are logged at DEBUG, not INFO."""

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_META = "HTTP_X_REQUEST_ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

Finish = Callable[[HttpResponseBase], None]
GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


def request_id_of(request: HttpRequest) -> str:
    """Return the client's ``X-Request-ID`` if it is a safe token, else a new one.

    Args:
        request: The request.

    Returns:
        1 to 64 characters of ``[A-Za-z0-9._-]``, or a uuid4 in hex.
    """
    # From META: request.headers would build a dictionary of every header for one.
    given = request.META.get(REQUEST_ID_META, "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class HybridMiddleware:
    """A middleware with a sync and an async path, so neither costs a thread hop.

    Django calls ``__call__``; under ASGI (an async chain) a subclass's ``__call__`` hands over
    to its ``__acall__``.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: GetResponse) -> None:
        """Keep the rest of the chain; mark this middleware async when the chain is.

        Args:
            get_response: The rest of the chain.
        """
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)  # type: ignore[type-var]  # subclasses define __call__


class _AroundMiddleware(HybridMiddleware):
    """A middleware that runs :meth:`around` the rest of the chain, sync or async."""

    def around(self, request: HttpRequest) -> AbstractContextManager[Finish]:
        """Return the context the request runs in; it gives a function to call with the response.

        Args:
            request: The request.
        """
        raise NotImplementedError

    # --8<-- [start:around_sync]
    def __call__(self, request: HttpRequest) -> Any:
        """Handle a request (sync or async, as the handler chain is).

        Args:
            request: The request.

        Returns:
            The response, or an awaitable of it under ASGI.
        """
        if self.is_async:
            return self.__acall__(request)
        with self.around(request) as finish:
            response = self.get_response(request)
            assert isinstance(response, HttpResponseBase)  # sync chain
            finish(response)
        return response

    # --8<-- [end:around_sync]

    # --8<-- [start:around_async]
    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """Handle a request under ASGI.

        Args:
            request: The request.

        Returns:
            The response.
        """
        with self.around(request) as finish:
            response = self.get_response(request)
            assert not isinstance(response, HttpResponseBase)  # async chain
            response = await response
            finish(response)
        return response

    # --8<-- [end:around_async]


# --8<-- [start:request_id]
class RequestIdMiddleware(_AroundMiddleware):
    """Give each request an id, put it in every log line, and log one line when it ends.

    The id is the client's ``X-Request-ID`` when that is a safe token (1 to 64 characters of
    ``[A-Za-z0-9._-]``, so a proxy's id is kept), else a new uuid4. It is on
    ``request.request_id``, in the request's ``X-Request-ID`` header (for code that reads the
    header), in the response's, and in the context of every
    line logged while the request runs. The last line, ``GET /path 200``, carries the method,
    path, status and duration (``event.duration``, nanoseconds).
    """

    @contextmanager
    def around(self, request: HttpRequest) -> Iterator[Finish]:
        """Bind the request id for the request; log the access line with the response.

        Args:
            request: The request.

        Yields:
            The function that finishes the response.
        """
        request_id = request_id_of(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        request.META[REQUEST_ID_META] = request_id
        request.__dict__.pop("headers", None)  # request.headers is cached from META
        started = time.perf_counter_ns()

        def finish(response: HttpResponseBase) -> None:
            response[REQUEST_ID_HEADER] = request_id
            status = response.status_code
            access_logger.log(
                logging.DEBUG if request.path in QUIET_PATHS else logging.INFO,
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={
                    "http.request.method": request.method,
                    "url.path": request.path,
                    "http.response.status_code": status,
                    "event.duration": time.perf_counter_ns() - started,
                },
            )

        with request_bound(request, request_id=request_id):
            yield finish


# --8<-- [end:request_id]


class MetricsMiddleware(_AroundMiddleware):
    """Record each request's latency (by URL pattern, method, status) and SQL statement count."""

    @contextmanager
    def around(self, request: HttpRequest) -> Iterator[Finish]:
        """Count the request's queries and time it.

        Args:
            request: The request.

        Yields:
            The function that records the response.
        """
        started = time.perf_counter()
        with counting_queries() as queries:

            def finish(response: HttpResponseBase) -> None:
                request_observe(
                    request=request,
                    response=response,
                    seconds=time.perf_counter() - started,
                    queries=queries.count,
                )

            yield finish
