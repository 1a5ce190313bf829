"""The request's span: the sampler asked first, the kept span built from what Django worked out."""

from __future__ import annotations

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
    _DjangoMiddleware,  # private, but the class DjangoInstrumentor configures
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

from fashionistar.observability.metrics import KNOWN_METHODS
from fashionistar.observability.middleware import AroundMiddleware, GetResponse
from fashionistar.observability.tracing import next_trace_id, provider


# --8<-- [start:sampled_first]
class TracingMiddleware(AroundMiddleware):
    """The request's span, in place of OpenTelemetry's Django middleware: the sampler first.

    OpenTelemetry's middleware builds a request's span in full (its attributes, its name from a
    second URL lookup, the absolute URI three times, its timings) and only then learns from the
    sampler that the span is dropped: with one request in twenty traced, nineteen in twenty pay
    for a span no one sees. Here the sampler decides first, from the caller's ``traceparent``
    and a trace id drawn for the request. A dropped request, or one whose path is excluded,
    runs under a non-recording span with that trace id and with instrumentation suppressed: its
    SQL, Redis and HTTP calls make no span at all, and so its calls to other services carry no
    ``traceparent`` (a service downstream decides for itself). Its log lines still carry a
    ``trace.id``, and the tasks it enqueues carry its trace, unsampled. A kept one gets a span
    with the same trace id, so that the sampler, asked again, says the same: OpenTelemetry's
    samplers decide from the trace id and the caller's context alone. (A sampler that draws at
    random on each call would keep fewer.)

    The kept request's span is built here too, from what Django has already worked out
    (:class:`_Kept`). OpenTelemetry's class would collect it anew from the WSGI environ or the
    ASGI scope, resolve the URL a second time and set each attribute twice; it also offers
    hooks, captured headers and OpenTelemetry's own HTTP metrics, which the shop does not use
    (its metrics are Prometheus's). Django's instrumentor still puts this class first in
    ``MIDDLEWARE`` and configures it through OpenTelemetry's: the tracer and the excluded URLs.

    It runs in the server's mode, sync under WSGI and async under ASGI, without a thread hop;
    OpenTelemetry's own class is sync only. A cancelled request (under ASGI, a client that
    left) still ends its span, in its own task.
    """

    def __init__(self, get_response: GetResponse) -> None:
        """Keep the rest of the chain, the provider, and the headers the propagator reads.

        Args:
            get_response: The rest of the chain.
        """
        super().__init__(get_response)
        self._provider = provider()
        fields = get_global_textmap().fields  # traceparent, tracestate, baggage by default
        self._propagated_meta = frozenset(
            "HTTP_" + field.upper().replace("-", "_") for field in fields
        )
        self._propagated_headers = frozenset(field.lower().encode("latin-1") for field in fields)

    def begin(self, request: HttpRequest) -> _Kept | Token[Context]:
        """Start the request's span if the sampler keeps it, else make the context unsampled.

        Args:
            request: The request.

        Returns:
            The kept span, or the token of the unsampled context.
        """
        caller = self._callers_context(request)
        parent = trace.get_current_span(caller).get_span_context()
        ids = self._provider.id_generator
        trace_id = parent.trace_id if parent.is_valid else ids.generate_trace_id()
        name = span_name(request)
        sampled = self._provider.sampler.should_sample(caller, trace_id, name, SpanKind.SERVER)
        if sampled.decision is not Decision.DROP and not self._excluded(request):
            with next_trace_id(trace_id):
                tracer = cast(trace.Tracer, _DjangoMiddleware._tracer)  # the instrumentor's
                span = tracer.start_span(
                    name, caller, kind=SpanKind.SERVER, attributes=request_attributes(request)
                )
            kept = _Kept(span, context.attach(trace.set_span_in_context(span, caller)))
            request.META[_KEPT] = kept  # for process_exception
            return kept
        unsampled = NonRecordingSpan(
            SpanContext(
                trace_id=trace_id,
                span_id=ids.generate_span_id(),
                is_remote=False,
                trace_flags=_UNSAMPLED,
                trace_state=parent.trace_state,
            )
        )
        # Nothing inside records a span: the instrumentations of psycopg, Redis and httpx skip
        # their work outright, rather than each making a span only to drop it.
        suppressed = (
            _SUPPRESSED
            if caller is _NO_CALLER
            else context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, caller)
        )
        return context.attach(trace.set_span_in_context(unsampled, suppressed))

    def end(
        self,
        request: HttpRequest,
        response: HttpResponseBase | None,
        begun: _Kept | Token[Context],
    ) -> None:
        """End a kept request's span, named after its URL pattern, or leave the unsampled context.

        Args:
            request: The request.
            response: The response (``None``: the client left first).
            begun: What :meth:`begin` returned.
        """
        if not isinstance(begun, _Kept):
            context.detach(begun)
            return
        del request.META[_KEPT]
        route = getattr(request.resolver_match, "route", None)
        if route:
            begun.span.set_attribute(HTTP_ROUTE, route)
            begun.span.update_name(span_name(request, route=route))
        begun.end(None if response is None else response.status_code)

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Record what the view raised on a kept request's span.

        Args:
            request: The request.
            exception: What the view raised.
        """
        kept: _Kept | None = request.META.get(_KEPT)
        if kept is not None:
            kept.span.record_exception(exception)
            kept.error_type = f"{type(exception).__module__}.{type(exception).__qualname__}"

    def _callers_context(self, request: HttpRequest) -> Context:
        """Read the caller's trace context from the request's headers.

        A request with none of the headers the propagator reads (most requests reaching an edge
        service) gets an empty context without the propagator's work: it would find nothing.

        Args:
            request: The request.

        Returns:
            The caller's context (:data:`_NO_CALLER` when the request carries none).
        """
        if isinstance(request, ASGIRequest):
            scope = cast(dict[str, Any], request.scope)  # OpenTelemetry's getter reads a dict
            if any(name in self._propagated_headers for name, _ in scope["headers"]):
                return extract(scope, getter=asgi_getter)
        elif not self._propagated_meta.isdisjoint(request.META):
            return extract(request.META, getter=wsgi_getter)
        return _NO_CALLER

    @staticmethod
    def _excluded(request: HttpRequest) -> bool:
        excluded_urls = _DjangoMiddleware._excluded_urls  # the instrumentor's
        return bool(excluded_urls.url_disabled(request.build_absolute_uri("?")))


_KEPT = "fashionistar.tracing.kept"
"""The key of a kept request's span in ``request.META``, for ``process_exception``."""

_NO_CALLER = Context()
"""The caller's context of a request that carries none (never changed: contexts are copied)."""

_SUPPRESSED = context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, _NO_CALLER)

_UNSAMPLED = TraceFlags(TraceFlags.DEFAULT)


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
