"""OpenTelemetry: spans for Django, psycopg, Redis and httpx, exported over OTLP.

Configured by the standard variables, read by the SDK itself: ``OTEL_EXPORTER_OTLP_ENDPOINT``
(for example ``http://jaeger:4318``; spans go to ``<endpoint>/v1/traces`` over OTLP/HTTP, which
Jaeger accepts natively, so the deprecated Jaeger exporter is not needed), ``OTEL_SERVICE_NAME``
(default ``fashionistar``), ``OTEL_TRACES_SAMPLER`` and ``OTEL_TRACES_SAMPLER_ARG``.
``OTEL_PYTHON_DJANGO_EXCLUDED_URLS`` defaults to the probe and scrape paths. Without an endpoint
nothing is instrumented and no span is made. Tests and docs collect spans in memory with
:func:`traced`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Either one turns tracing on."""

UNTRACED_PATHS = "livez,healthz,readyz,metrics"
"""Probes and scrapes: a span every few seconds per pod tells nothing."""

_chosen_trace_id: ContextVar[int | None] = ContextVar("fashionistar_trace_id", default=None)


class _ChosenTraceIds(RandomIdGenerator):
    """Random ids, except for a span started inside :func:`next_trace_id`."""

    def generate_trace_id(self) -> int:
        """Return the chosen trace id, or a random one.

        Returns:
            A 128-bit trace id.
        """
        chosen = _chosen_trace_id.get()
        return super().generate_trace_id() if chosen is None else chosen


@contextmanager
def next_trace_id(trace_id: int) -> Iterator[None]:
    """Give a root span started inside the block this trace id instead of a random one.

    Args:
        trace_id: The 128-bit id.

    Yields:
        Nothing.
    """
    token = _chosen_trace_id.set(trace_id)
    try:
        yield
    finally:
        _chosen_trace_id.reset(token)


class _HashedOnce(Resource):
    """A resource whose hash is worked out once, when it is made.

    OpenTelemetry's OTLP encoder groups each batch's spans by resource, a dictionary lookup
    that hashes the resource once per span, and ``Resource.__hash__`` serialises every
    attribute to JSON each time: a few microseconds a span, for attributes that never change.
    """

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash


def provider() -> TracerProvider:
    """Return the process's SDK tracer provider, installing it on the first call.

    Returns:
        The provider (service name from ``OTEL_SERVICE_NAME``, default ``fashionistar``).
    """
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    name = os.environ.get("OTEL_SERVICE_NAME") or "fashionistar"
    sdk_provider = TracerProvider(
        resource=_HashedOnce(Resource.create({SERVICE_NAME: name})), id_generator=_ChosenTraceIds()
    )
    trace.set_tracer_provider(sdk_provider)
    return sdk_provider


class Instrumentor(DjangoInstrumentor):
    """OpenTelemetry's Django instrumentation, inserting the shop's subclass of its middleware.

    The subclass (:class:`~fashionistar.observability.request_spans.TracingMiddleware`) asks the
    sampler before building a request's span.
    """

    _instance = None  # one instance per class, not the parent class's
    _opentelemetry_middleware = "fashionistar.observability.request_spans.TracingMiddleware"


# --8<-- [start:instrument]
def instrument() -> None:
    """Instrument Django, psycopg, Redis and httpx (call before the first request).

    Django's instrumentation adds the shop's tracing middleware to ``settings.MIDDLEWARE``,
    first, and gives it its tracer and the excluded URLs.
    """
    tracer_provider = provider()
    excluded = os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS", UNTRACED_PATHS)
    Instrumentor().instrument(tracer_provider=tracer_provider, excluded_urls=excluded)
    PsycopgInstrumentor().instrument(tracer_provider=tracer_provider)
    RedisInstrumentor().instrument(tracer_provider=tracer_provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=tracer_provider)


def configure_from_env() -> bool:
    """Turn tracing on when an OTLP endpoint is configured.

    Spans are exported in batches from a background thread: a request never waits on the
    collector, and spans are dropped (not queued without bound) when it is down.

    Returns:
        Whether tracing is on.
    """
    if not any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
        return False
    provider().add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    instrument()
    return True


# --8<-- [end:instrument]


def uninstrument() -> None:
    """Undo :func:`instrument`."""
    for instrumentor in (
        Instrumentor(),
        PsycopgInstrumentor(),
        RedisInstrumentor(),
        HTTPXClientInstrumentor(),
    ):
        instrumentor.uninstrument()


@functools.cache
def memory_exporter() -> InMemorySpanExporter:
    """Return the process's in-memory exporter, attached to the provider on the first call.

    Returns:
        The exporter; every span that ends from now on is in ``get_finished_spans()``.
    """
    exporter = InMemorySpanExporter()
    provider().add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@contextmanager
def traced() -> Iterator[InMemorySpanExporter]:
    """Collect the spans of a block in memory, instrumenting for the block if need be.

    Yields:
        The exporter, emptied first: after the block it holds the block's spans.
    """
    exporter = memory_exporter()
    exporter.clear()
    already = Instrumentor().is_instrumented_by_opentelemetry
    if not already:
        instrument()
    try:
        yield exporter
    finally:
        if not already:
            uninstrument()
