"""The request's span: the sampler asked first, the kept span built from what Django worked out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import Token
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
from django.http.request import split_domain_port
from django.http.response import HttpResponseBase
from opentelemetry import context, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.instrumentation.asgi import asgi_getter
from opentelemetry.instrumentation.django.middleware.otel_middleware import (
    _DjangoMiddleware,  # private, but the class DjangoInstrumentor inserts into MIDDLEWARE
)
from opentelemetry.instrumentation.wsgi import wsgi_getter
from opentelemetry.propagate import extract, get_global_textmap
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.semconv.attributes.client_attributes import CLIENT_ADDRESS
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.attributes.http_attributes import (
    HTTP_REQUEST_METHOD,
    HTTP_REQUEST_METHOD_ORIGINAL,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_ROUTE,
)
from opentelemetry.semconv.attributes.network_attributes import NETWORK_PROTOCOL_VERSION
from opentelemetry.semconv.attributes.server_attributes import SERVER_ADDRESS, SERVER_PORT
from opentelemetry.semconv.attributes.url_attributes import URL_PATH, URL_QUERY, URL_SCHEME
from opentelemetry.semconv.attributes.user_agent_attributes import USER_AGENT_ORIGINAL
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    StatusCode,
    TraceFlags,
)
from opentelemetry.util.http import redact_query_parameters

from fashionistar.kernel.middleware import OnTheLoop
from fashionistar.observability.metrics import KNOWN_METHODS
from fashionistar.observability.tracing import next_trace_id, provider


# --8<-- [start:sampled_first]
class TracingMiddleware(_DjangoMiddleware, OnTheLoop):
    """OpenTelemetry's Django middleware, which asks the sampler before it does any work.

    OpenTelemetry's class builds a request's span in full (its attributes, its name from a
    second URL lookup, the absolute URI three times, its timings) and only then learns from the
    sampler that the span is dropped: with one request in ten traced, nine in ten pay for a span
    no one sees. Here the sampler decides first, from the caller's ``traceparent`` and a trace
    id drawn for the request. A dropped request, or one whose path is excluded, runs under a
    non-recording span with that trace id and with instrumentation suppressed: its SQL, Redis
    and HTTP calls make no span at all, and so its calls to other services carry no
    ``traceparent`` (a service downstream decides for itself). Its log lines still carry a
    ``trace.id``, and the tasks it enqueues carry its trace, unsampled. A kept one gets a span
    with the same trace id, so that the sampler, asked again, says the same: OpenTelemetry's
    samplers decide from the trace id and the caller's context alone. (A sampler that draws at
    random on each call would keep fewer.)

    The kept request's span is built here too, from what Django has already worked out: the
    attributes of the HTTP semantic conventions (:func:`request_attributes`), its name and
    ``http.route`` from the URL pattern Django resolved, its status and, for a 5xx, its
    ``error.type``. OpenTelemetry's class would collect them anew from the WSGI environ or the
    ASGI scope, resolve the URL a second time and set each attribute twice; it also offers
    hooks, captured headers and OpenTelemetry's own HTTP metrics, which the shop does not use
    (its metrics are Prometheus's). The instrumentor still configures the class: its tracer and
    its excluded URLs.

    The chain runs in the server's mode (sync under WSGI, async under ASGI, without a thread
    hop: the hooks only handle spans); OpenTelemetry's own class is sync only.
    """

    _environ_unsampled_key = "fashionistar.tracing.unsampled_context"
    _kept_key = "fashionistar.tracing.kept"

    __call__ = OnTheLoop.__call__

    def __init__(self, get_response: Callable[..., Any]) -> None:
        """Keep the rest of the chain, and the headers the propagator reads.

        Args:
            get_response: The rest of the chain.
        """
        OnTheLoop.__init__(self, get_response)
        fields = get_global_textmap().fields  # traceparent, tracestate, baggage by default
        self._propagated_meta = frozenset(
            "HTTP_" + field.upper().replace("-", "_") for field in fields
        )
        self._propagated_headers = frozenset(field.lower().encode("latin-1") for field in fields)

    def process_request(self, request: HttpRequest) -> None:
        """Start the request's span if the sampler keeps it, else make the context unsampled.

        Args:
            request: The request.
        """
        caller = self._callers_context(request)
        name = span_name(request)
        trace_id, recorded = _sampled(caller, name=name)
        if recorded and not self._excluded_urls.url_disabled(request.build_absolute_uri("?")):
            with next_trace_id(trace_id):
                span = cast(trace.Tracer, self._tracer).start_span(  # the instrumentor's
                    name, caller, kind=SpanKind.SERVER, attributes=request_attributes(request)
                )
            token = context.attach(trace.set_span_in_context(span, caller))
            request.META[self._kept_key] = _Kept(span, token)
            return
        unsampled = NonRecordingSpan(
            SpanContext(
                trace_id=trace_id,
                span_id=provider().id_generator.generate_span_id(),
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.DEFAULT),
                trace_state=trace.get_current_span(caller).get_span_context().trace_state,
            )
        )
        # Nothing inside records a span: the instrumentations of psycopg, Redis and httpx skip
        # their work outright, rather than each making a span only to drop it.
        dropped = context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, caller)
        token = context.attach(trace.set_span_in_context(unsampled, dropped))
        request.META[self._environ_unsampled_key] = token

    def _callers_context(self, request: HttpRequest) -> Context:
        """Read the caller's trace context from the request's headers.

        A request with none of the headers the propagator reads (most requests reaching an edge
        service) gets an empty context without the propagator's work: it would find nothing.

        Args:
            request: The request.

        Returns:
            The caller's context (empty when the request carries none).
        """
        if isinstance(request, ASGIRequest):
            scope = cast(dict[str, Any], request.scope)  # OpenTelemetry's getter reads a dict
            if any(name in self._propagated_headers for name, _ in scope["headers"]):
                return extract(scope, getter=asgi_getter)
        elif not self._propagated_meta.isdisjoint(request.META):
            return extract(request.META, getter=wsgi_getter)
        return Context()

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> None:
        """Name a kept request's span after the URL pattern Django resolved.

        Args:
            request: The request.
            view_func: The view.
            *args: Its positional arguments.
            **kwargs: Its keyword arguments.
        """
        kept: _Kept | None = request.META.get(self._kept_key)
        route = getattr(request.resolver_match, "route", None)
        if kept is not None and route:
            kept.span.set_attribute(HTTP_ROUTE, route)
            kept.span.update_name(span_name(request, route=route))

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Record what the view raised on a kept request's span.

        Args:
            request: The request.
            exception: What the view raised.
        """
        kept: _Kept | None = request.META.get(self._kept_key)
        if kept is not None:
            kept.span.record_exception(exception)
            kept.error_type = f"{type(exception).__module__}.{type(exception).__qualname__}"

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        """End a kept request's span, or leave a dropped one's context.

        Args:
            request: The request.
            response: The response.

        Returns:
            The response.
        """
        token = request.META.pop(self._environ_unsampled_key, None)
        if token is not None:
            context.detach(token)
            return response
        kept: _Kept | None = request.META.pop(self._kept_key, None)
        if kept is not None:
            kept.end(response.status_code)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """Run the chain; if the request is cancelled, end its span in its own task.

        When the client leaves mid-request, Django cancels the chain and ``process_response``
        never runs: the span would stay the current one until the garbage collector detached its
        context from another one ("Failed to detach context", logged as an error).

        Args:
            request: The request.

        Returns:
            The response.
        """
        try:
            return await super().__acall__(request)
        except asyncio.CancelledError:
            kept: _Kept | None = request.META.pop(self._kept_key, None)
            if kept is not None:
                kept.end(None)
            token = request.META.pop(self._environ_unsampled_key, None)
            if token is not None:
                context.detach(token)
            raise


def _sampled(caller: context.Context, *, name: str) -> tuple[int, bool]:
    """Ask the provider's sampler about a request span under the caller's context.

    Args:
        caller: The context from the request's headers.
        name: A name for the sampler (the span's own is known later).

    Returns:
        The request's trace id (the caller's, or a new one), and whether it is recorded.
    """
    sdk_provider = provider()
    parent = trace.get_current_span(caller).get_span_context()
    trace_id = parent.trace_id if parent.is_valid else sdk_provider.id_generator.generate_trace_id()
    decision = sdk_provider.sampler.should_sample(caller, trace_id, name, SpanKind.SERVER).decision
    return trace_id, decision is not Decision.DROP


# --8<-- [end:sampled_first]


# --8<-- [start:kept_span]
@dataclass
class _Kept:
    """A kept request's span, the token of its context, and the type of the error, if any."""

    span: Span
    token: Token[Context]
    error_type: str | None = None

    def end(self, status: int | None) -> None:
        """Set the response's status (``None``: the client left first), end the span, detach.

        Args:
            status: The response's status code.
        """
        if status is not None:
            self.span.set_attribute(HTTP_RESPONSE_STATUS_CODE, status)
            if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                self.span.set_attribute(ERROR_TYPE, self.error_type or str(status))
                self.span.set_status(StatusCode.ERROR)
        self.span.end()
        context.detach(self.token)


OTHER_METHOD = "_OTHER"
"""What a span says of a method not in :data:`KNOWN_METHODS` (the HTTP semantic conventions')."""


def semconv_method(request: HttpRequest) -> str:
    """The request's method for ``http.request.method``: one of :data:`KNOWN_METHODS`, or other.

    Args:
        request: The request.

    Returns:
        The method, or :data:`OTHER_METHOD`.
    """
    return str(request.method) if request.method in KNOWN_METHODS else OTHER_METHOD


def span_name(request: HttpRequest, *, route: str | None = None) -> str:
    """A server span's name: the method and the URL pattern (``GET api/sync/orders``).

    Args:
        request: The request.
        route: The URL pattern Django resolved, once it has.

    Returns:
        The name (``HTTP`` for a method of no standard, as the conventions say).
    """
    method = semconv_method(request)
    prefix = "HTTP" if method == OTHER_METHOD else method
    return f"{prefix} {route}" if route else prefix


def request_attributes(request: HttpRequest) -> dict[str, str | int]:
    """The attributes a server span of the HTTP semantic conventions starts with.

    Read from what Django parsed, under WSGI and ASGI alike (the server's address from ``Host``,
    else from the server's own name). Signatures in the query (``Signature``, ``sig``, ...) are
    redacted, as OpenTelemetry's instrumentations redact them.

    Args:
        request: The request.

    Returns:
        The method, scheme, path and query, the server's address and port, the client's address,
        the user agent and the protocol version (those the request has).
    """
    meta = request.META
    method = semconv_method(request)
    attributes: dict[str, str | int] = {
        HTTP_REQUEST_METHOD: method,
        URL_SCHEME: request.scheme or "http",
        URL_PATH: request.path,
    }
    host, port = split_domain_port(meta.get("HTTP_HOST") or meta.get("SERVER_NAME", ""))
    port = port or str(meta.get("SERVER_PORT", ""))
    query = meta.get("QUERY_STRING")
    optional: dict[str, str | int | None] = {
        HTTP_REQUEST_METHOD_ORIGINAL: request.method if method == OTHER_METHOD else None,
        URL_QUERY: redact_query_parameters(f"?{query}")[1:] if query else None,
        SERVER_ADDRESS: host,
        SERVER_PORT: int(port) if port.isdigit() else None,
        CLIENT_ADDRESS: meta.get("REMOTE_ADDR"),
        USER_AGENT_ORIGINAL: meta.get("HTTP_USER_AGENT"),
        NETWORK_PROTOCOL_VERSION: (
            request.scope.get("http_version")
            if isinstance(request, ASGIRequest)
            else meta.get("SERVER_PROTOCOL", "").partition("/")[2]
        ),
    }
    attributes.update((name, value) for name, value in optional.items() if value)
    return attributes


# --8<-- [end:kept_span]
