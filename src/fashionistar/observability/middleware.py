"""Request middleware: the request id and access log line, and the request metrics.

Both work under WSGI and ASGI without a thread hop (each is sync and async capable) and go first
in ``MIDDLEWARE``, so that what the other middleware log carries the request id and their time
counts in the latency.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from fashionistar.observability.context import RequestBinding, bind_request, unbind_request
from fashionistar.observability.metrics import QueryCount, request_observe

access_logger = logging.getLogger("fashionistar.request")

QUIET_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: their access lines are logged at DEBUG, not INFO."""

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_META = "HTTP_X_REQUEST_ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


def request_id_of(request: HttpRequest) -> str:
    """Return the client's ``X-Request-ID`` if it is a safe token, else a new one.

    The new id comes from :mod:`random` (seeded from the system, and again in each forked
    worker), not from ``os.urandom``, ``uuid.uuid4()`` or :mod:`secrets`: those release the GIL
    for their system call, and in a process where another thread is runnable (a worker thread
    of ``sync_to_async``, the log writer, the span exporter) the request then waits for the GIL
    to come back, up to the switch interval (5 ms). A request id has to be unique, not secret.
    OpenTelemetry draws its trace and span ids the same way.

    Args:
        request: The request.

    Returns:
        1 to 64 characters of ``[A-Za-z0-9._-]``, or 32 random hexadecimal digits (128 bits).
    """
    # From META: request.headers would build a dictionary of every header for one.
    given: str = request.META.get(REQUEST_ID_META, "")
    if _REQUEST_ID.fullmatch(given):
        return given
    return f"{random.getrandbits(128):032x}"  # nosec B311: unique, not secret (see above)


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


class AroundMiddleware(HybridMiddleware):
    """A middleware that runs :meth:`begin` before the rest of the chain and :meth:`end` after it.

    Two plain calls rather than a context manager: a generator-based one would cost each request
    a handful of calls more, in every middleware built on this class.
    """

    def begin(self, request: HttpRequest) -> Any:
        """Start the request's work.

        Args:
            request: The request.

        Returns:
            What :meth:`end` needs.
        """
        raise NotImplementedError

    def end(self, request: HttpRequest, response: HttpResponseBase | None, begun: Any) -> None:
        """Finish the request's work; called even when the rest of the chain raised.

        Args:
            request: The request.
            response: The response; ``None`` when the rest of the chain raised (under ASGI, a
                client that left).
            begun: What :meth:`begin` returned.
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
        begun = self.begin(request)
        response: HttpResponseBase | None = None
        try:
            answered = self.get_response(request)
            assert isinstance(answered, HttpResponseBase)  # sync chain
            response = answered
        finally:
            self.end(request, response, begun)
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
        begun = self.begin(request)
        response: HttpResponseBase | None = None
        try:
            pending = self.get_response(request)
            assert not isinstance(pending, HttpResponseBase)  # async chain
            response = await pending
        finally:
            self.end(request, response, begun)
        return response

    # --8<-- [end:around_async]


# --8<-- [start:request_id]
class RequestIdMiddleware(AroundMiddleware):
    """Give each request an id, put it in every log line, and log one line when it ends.

    The id is the client's ``X-Request-ID`` when that is a safe token (1 to 64 characters of
    ``[A-Za-z0-9._-]``, so a proxy's id is kept), else 32 new random hexadecimal digits. It is
    on ``request.request_id``, in the request's ``X-Request-ID`` header (for code that reads the
    header), in the response's, and in the context of every
    line logged while the request runs. The last line, ``GET /path 200``, carries the method,
    path, status and duration (``event.duration``, nanoseconds).
    """

    def begin(self, request: HttpRequest) -> tuple[str, int, RequestBinding]:
        """Give the request its id and bind it for the request's log lines.

        Args:
            request: The request.

        Returns:
            The id, the start time (nanoseconds) and the binding to undo.
        """
        request_id = request_id_of(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        request.META[REQUEST_ID_META] = request_id
        request.__dict__.pop("headers", None)  # request.headers is cached from META
        return request_id, time.perf_counter_ns(), bind_request(request, request_id=request_id)

    def end(
        self,
        request: HttpRequest,
        response: HttpResponseBase | None,
        begun: tuple[str, int, RequestBinding],
    ) -> None:
        """Send the id back and log the access line; then unbind the request.

        Args:
            request: The request.
            response: The response (``None``: no line).
            begun: What :meth:`begin` returned.
        """
        request_id, started, binding = begun
        try:
            if response is not None:
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
        finally:
            unbind_request(binding)


# --8<-- [end:request_id]


class MetricsMiddleware(AroundMiddleware):
    """Record each request's latency (by URL pattern, method, status) and SQL statement count."""

    def begin(self, request: HttpRequest) -> tuple[float, QueryCount]:
        """Start the clock and the query count.

        Args:
            request: The request.

        Returns:
            The start time and the count.
        """
        return time.perf_counter(), QueryCount()

    def end(
        self,
        request: HttpRequest,
        response: HttpResponseBase | None,
        begun: tuple[float, QueryCount],
    ) -> None:
        """Stop the count; record the latency and the count.

        Args:
            request: The request.
            response: The response (``None``: nothing recorded).
            begun: What :meth:`begin` returned.
        """
        started, queries = begun
        queries.stop()
        if response is not None:
            request_observe(
                request=request,
                response=response,
                seconds=time.perf_counter() - started,
                queries=queries.count,
            )
