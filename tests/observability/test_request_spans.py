"""The request's span: the sampler decides before the span is built, once, by the trace id."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import AsyncRequestFactory, Client, RequestFactory
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind, StatusCode

from fashionistar.observability.propagation import capture
from fashionistar.observability.request_spans import TracingMiddleware
from fashionistar.observability.tracing import provider, traced
from tests.api_support import ASYNC, SYNC, call

CALLER_TRACE = "ab" * 16
CALLER_SPAN = "cd" * 8


def traceparent(*, sampled: bool) -> dict[str, str]:
    return {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-{'01' if sampled else '00'}"}


@pytest.fixture
def sampler() -> Iterator[Callable[[Sampler], None]]:
    """Set the sampler of the provider and of its tracers; put the first one back after."""
    sdk_provider = provider()
    shipped = sdk_provider.sampler

    def set_everywhere(chosen: Sampler) -> None:
        sdk_provider.sampler = chosen
        # Each tracer keeps the sampler it was made with, including those made during the test.
        for tracer in sdk_provider._tracers.values():
            tracer.sampler = chosen

    def use(chosen: Sampler) -> None:
        set_everywhere(chosen)
        connection.close()  # connections opened before instrumenting are not traced:
        connection.close_pool()  # let the pool open new ones

    yield use
    set_everywhere(shipped)


def access_trace_ids(lines: list[dict[str, Any]]) -> list[str]:
    return [
        line.get("trace.id", "") for line in lines if line["log.logger"] == "fashionistar.request"
    ]


def requests_spans(exporter: InMemorySpanExporter) -> list[str]:
    """The names of the spans, but the set-up statement of each connection the pool opens.

    The pool opens connections in threads of its own: that statement is a trace of its own.
    """
    return [
        span.name
        for span in exporter.get_finished_spans()
        if not str(span.attributes.get("db.statement", "")).startswith("SELECT set_config(")
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("api", [SYNC, ASYNC])
def test_a_dropped_request_makes_no_span_and_its_log_lines_keep_a_trace_id(
    api, sampler, log_lines, clean_redis
) -> None:
    sampler(ParentBased(ALWAYS_OFF))

    with traced() as exporter:
        answer = call(api, "get", "catalog/products")

    assert answer.status == 200
    assert requests_spans(exporter) == []  # nor its SQL and Redis spans
    (trace_id,) = access_trace_ids(log_lines())
    assert len(trace_id) == 32
    assert int(trace_id, 16) != 0


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("api", [SYNC, ASYNC])
def test_a_callers_sampled_trace_is_joined_though_the_sampler_keeps_no_root(
    api, sampler, clean_redis
) -> None:
    sampler(ParentBased(ALWAYS_OFF))

    with traced() as exporter:
        call(api, "get", "catalog/products", headers=traceparent(sampled=True))

    spans = exporter.get_finished_spans()
    (request_span,) = [span for span in spans if span.kind == SpanKind.SERVER]
    assert request_span.parent is not None
    assert format(request_span.parent.span_id, "016x") == CALLER_SPAN
    assert {format(span.context.trace_id, "032x") for span in spans} == {CALLER_TRACE}
    assert len(spans) > 1  # the request's SQL and Redis spans too


@pytest.mark.django_db(transaction=True)
def test_a_callers_dropped_trace_stays_dropped_and_names_the_log_lines(
    sampler, log_lines, clean_redis
) -> None:
    sampler(ParentBased(ALWAYS_ON))

    with traced() as exporter:
        call(SYNC, "get", "catalog/products", headers=traceparent(sampled=False))

    assert requests_spans(exporter) == []
    assert access_trace_ids(log_lines()) == [CALLER_TRACE]


@pytest.mark.django_db(transaction=True)
def test_a_probe_makes_no_span_even_when_every_request_is_sampled(sampler, clean_redis) -> None:
    sampler(ParentBased(ALWAYS_ON))

    with traced() as exporter:
        response = Client().get("/readyz")  # reads PostgreSQL and Redis

    assert response.status_code == 200
    assert requests_spans(exporter) == []


class Recorded(TraceIdRatioBased):
    """A ratio sampler that remembers what it said about each request span's trace id."""

    def __init__(self, rate: float) -> None:
        super().__init__(rate)
        self.said: dict[int, list[Decision]] = {}

    def should_sample(self, parent_context, trace_id, name, kind=None, *args, **kwargs):
        result: SamplingResult = super().should_sample(
            parent_context, trace_id, name, kind, *args, **kwargs
        )
        if kind == SpanKind.SERVER:
            self.said.setdefault(trace_id, []).append(result.decision)
        return result


@pytest.fixture
def half() -> Recorded:
    return Recorded(0.5)


@pytest.mark.django_db(transaction=True)
def test_the_ratio_is_kept_once_per_request_not_squared(sampler, half, clean_redis) -> None:
    sampler(ParentBased(half))

    with traced() as exporter:
        for _ in range(40):
            call(SYNC, "get", "catalog/products")

    kept = {trace_id for trace_id, said in half.said.items() if Decision.DROP not in said}
    traced_requests = {
        span.context.trace_id
        for span in exporter.get_finished_spans()
        if span.kind == SpanKind.SERVER
    }
    assert len(half.said) == 40  # a trace id per request, asked about before its span
    assert 0 < len(kept) < 40
    assert traced_requests == kept  # a kept request's span has the trace id the sampler kept
    assert all(
        said in ([Decision.DROP], [Decision.RECORD_AND_SAMPLE] * 2) for said in half.said.values()
    )


def test_a_dropped_requests_tasks_carry_its_trace_unsampled(sampler) -> None:
    sampler(ParentBased(ALWAYS_OFF))
    carried: dict[str, str] = {}

    def view(request: HttpRequest) -> HttpResponse:
        carried.update(capture())  # what the task backend stores with a task
        return HttpResponse()

    with traced():
        TracingMiddleware(view)(RequestFactory().get("/api/sync/orders"))

    _version, trace_id, _span_id, flags = carried["traceparent"].split("-")
    assert int(trace_id, 16) != 0
    assert flags == "00"  # the worker's parent-based sampler drops the task's spans too


@pytest.mark.parametrize("factory", [RequestFactory, AsyncRequestFactory])
def test_a_dropped_requests_tasks_carry_its_callers_baggage(factory, sampler) -> None:
    sampler(ParentBased(ALWAYS_OFF))
    carried: dict[str, str] = {}

    def view(request: HttpRequest) -> HttpResponse:
        carried.update(capture())
        return HttpResponse()

    async def async_view(request: HttpRequest) -> HttpResponse:
        return view(request)

    request = factory().get("/api/sync/orders", headers={"baggage": "tenant=acme"})
    with traced():
        if factory is RequestFactory:
            TracingMiddleware(view)(request)
        else:
            async_to_sync(TracingMiddleware(async_view))(request)

    assert carried["baggage"] == "tenant=acme"  # no traceparent: read all the same


@pytest.mark.parametrize(
    ("factory", "host", "server"),
    [
        (RequestFactory, {"host": "shop.example:8443"}, ("shop.example", 8443)),
        (AsyncRequestFactory, {}, ("testserver", 80)),  # from the scope's server
    ],
)
def test_a_kept_requests_span_carries_the_http_conventions_attributes(
    factory, host, server, sampler, settings
) -> None:
    sampler(ParentBased(ALWAYS_ON))
    settings.ALLOWED_HOSTS = ["shop.example", "testserver"]
    request = factory().get("/api/sync/orders?page=2", headers={"user-agent": "probe/1.0", **host})
    response = HttpResponse(status=200)

    def view(request: HttpRequest) -> HttpResponse:
        return response

    async def async_view(request: HttpRequest) -> HttpResponse:
        return response

    with traced() as exporter:
        if factory is RequestFactory:
            TracingMiddleware(view)(request)
        else:
            async_to_sync(TracingMiddleware(async_view))(request)
    (span,) = exporter.get_finished_spans()

    assert span.kind is SpanKind.SERVER
    assert span.name == "GET"  # no URL pattern resolved
    assert dict(span.attributes) == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/api/sync/orders",
        "url.query": "page=2",
        "server.address": server[0],
        "server.port": server[1],
        "client.address": "127.0.0.1",
        "user_agent.original": "probe/1.0",
        "network.protocol.version": "1.1",
        "http.response.status_code": 200,
    }


@pytest.mark.django_db(transaction=True)
def test_a_kept_span_is_named_after_the_url_pattern(sampler, clean_redis) -> None:
    sampler(ParentBased(ALWAYS_ON))

    with traced() as exporter:
        Client().get("/api/sync/catalog/products/no-such-slug")

    (span,) = [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    assert span.name == "GET api/sync/catalog/products/<str:slug>"
    assert span.attributes["http.route"] == "api/sync/catalog/products/<str:slug>"
    assert span.attributes["http.response.status_code"] == 404
    assert "error.type" not in span.attributes  # a client's error is not the server's


def test_a_view_that_raises_leaves_an_error_span_with_the_exceptions_type(sampler) -> None:
    sampler(ParentBased(ALWAYS_ON))
    middleware = TracingMiddleware(lambda request: HttpResponse(status=500))
    request = RequestFactory().get("/api/sync/orders")

    with traced() as exporter:
        begun = middleware.begin(request)
        middleware.process_exception(request, LookupError("gone"))  # as Django calls it
        middleware.end(request, HttpResponse(status=500), begun)
    (span,) = exporter.get_finished_spans()

    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "builtins.LookupError"
    assert [event.name for event in span.events] == ["exception"]


def test_a_5xx_without_an_exception_names_its_status_as_the_error(sampler) -> None:
    sampler(ParentBased(ALWAYS_ON))

    with traced() as exporter:
        TracingMiddleware(lambda request: HttpResponse(status=503))(RequestFactory().get("/x"))
    (span,) = exporter.get_finished_spans()

    assert (span.status.status_code, span.attributes["error.type"]) == (StatusCode.ERROR, "503")


def test_a_signature_in_the_query_is_redacted(sampler) -> None:
    sampler(ParentBased(ALWAYS_ON))
    request = RequestFactory().get("/x", {"page": "2", "Signature": "secret"})

    with traced() as exporter:
        TracingMiddleware(lambda request: HttpResponse())(request)
    (span,) = exporter.get_finished_spans()

    assert span.attributes["url.query"] == "page=2&Signature=REDACTED"


def test_a_method_of_no_standard_is_other_and_names_no_span(sampler) -> None:
    sampler(ParentBased(ALWAYS_ON))
    request = RequestFactory().generic("PURGE", "/x")

    with traced() as exporter:
        TracingMiddleware(lambda request: HttpResponse())(request)
    (span,) = exporter.get_finished_spans()

    assert span.name == "HTTP"
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "PURGE"
