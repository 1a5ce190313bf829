"""The request's span: OpenTelemetry's Django middleware, with the sampler asked first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest
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
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from fashionistar.kernel.middleware import OnTheLoop
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
    ``trace.id``, and the tasks it enqueues carry its trace, unsampled. A sampled one goes
    through OpenTelemetry's middleware, whose span is given the same trace id, so that the
    sampler, asked again, says the same: OpenTelemetry's samplers decide from the trace id and
    the caller's context alone. (A sampler that draws at random on each call would keep fewer.)

    The chain runs in the server's mode (sync under WSGI, async under ASGI, without a thread
    hop: the hooks only handle spans); OpenTelemetry's own class is sync only.
    """

    _environ_unsampled_key = "fashionistar.tracing.unsampled_context"

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
        trace_id, recorded = _sampled(caller, name=str(request.method))
        if recorded and not self._excluded_urls.url_disabled(request.build_absolute_uri("?")):
            with next_trace_id(trace_id):
                super().process_request(request)  # type: ignore[no-untyped-call]
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
        """Name the span after the URL pattern (a sampled request only).

        Args:
            request: The request.
            view_func: The view.
            *args: Its positional arguments.
            **kwargs: Its keyword arguments.
        """
        if self._environ_unsampled_key not in request.META:
            super().process_view(request, view_func, *args, **kwargs)  # type: ignore[no-untyped-call]

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        """Keep the exception for the span (a sampled request only).

        Args:
            request: The request.
            exception: What the view raised.
        """
        if self._environ_unsampled_key not in request.META:
            super().process_exception(request, exception)  # type: ignore[no-untyped-call]

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        """End the span, or leave the unsampled context.

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
        traced_response: HttpResponseBase = super().process_response(request, response)  # type: ignore[no-untyped-call]
        return traced_response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """Run the chain; if the request is cancelled, end its span in its own task.

        When the client leaves mid-request, Django cancels the chain and ``process_response``
        never runs: the span's activation would stay open until the garbage collector closed it
        from another context ("Failed to detach context", logged as an error).

        Args:
            request: The request.

        Returns:
            The response.
        """
        try:
            return await super().__acall__(request)
        except asyncio.CancelledError:
            activation = request.META.pop(self._environ_activation_key, None)
            if activation is not None:
                activation.__exit__(None, None, None)  # detaches and ends the span
            for key in (self._environ_token, self._environ_unsampled_key):
                token = request.META.pop(key, None)
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
