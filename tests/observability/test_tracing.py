from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from django.db import connection, transaction
from django.test import RequestFactory
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk import resources
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import SpanKind

from fashionistar.observability.context import request_bound
from fashionistar.observability.shutdown import flush
from fashionistar.observability.tracing import memory_exporter, provider, traced
from fashionistar.tasks.worker import drain
from tests.api_support import call
from tests.factories import make_product, make_user, variant_of
from tests.observability.tasks import log_and_fail_once

ROOT = Path(__file__).resolve().parents[2]


def descendants(spans, root) -> list:
    children = [
        span for span in spans if span.parent and span.parent.span_id == root.context.span_id
    ]
    return children + [d for child in children for d in descendants(spans, child)]


def is_database(span) -> bool:
    return span.attributes.get("db.system") == "postgresql"


def is_redis(span) -> bool:
    return span.attributes.get("db.system") == "redis"


# --8<-- [start:trace_test]
@pytest.mark.django_db(transaction=True)
def test_one_trace_covers_the_request_its_sql_and_redis_and_its_tasks(clean_redis, mailbox) -> None:
    ada = make_user("ada")
    dress = make_product(name="Dress", price="89.00", stock=5)
    body = {"items": [{"variant_id": variant_of(dress).pk, "quantity": 1}]}

    with traced() as exporter:
        connection.close()  # connections opened before instrumenting are not traced:
        connection.close_pool()  # give this one back, and let the pool open new ones
        answer = call("/api/sync/", "post", "orders", user=ada, body=body)
        drain(queues=["emails", "analytics"], kind="simple")  # the payment deadline waits
    spans = exporter.get_finished_spans()

    assert answer.status == 201
    (request,) = [span for span in spans if span.kind is SpanKind.SERVER]
    assert request.name == "POST api/sync/orders"
    assert request.attributes["http.response.status_code"] == 201
    in_request = descendants(spans, request)
    assert all(span.context.trace_id == request.context.trace_id for span in in_request)
    tasks = {span.name: span for span in in_request if span.kind is SpanKind.CONSUMER}
    confirmation = tasks["fashionistar.orders.tasks.order_confirmation_task"]
    mail = tasks["fashionistar.tasks.email.deliver_email"]
    analytics = tasks["fashionistar.analytics.tasks.analytics_record_order"]
    assert confirmation.parent.span_id == request.context.span_id
    assert analytics.parent.span_id == request.context.span_id
    assert mail.parent.span_id == confirmation.context.span_id  # enqueued by that task
    in_tasks = {
        s.context.span_id for task in tasks.values() for s in [task, *descendants(spans, task)]
    }
    own = [span for span in in_request if span.context.span_id not in in_tasks]
    assert {span.name for span in own if is_database(span)} >= {"SELECT", "INSERT", "UPDATE"}
    assert any(is_redis(span) for span in own)  # throttle counter, enqueued jobs
    assert any(is_database(span) for span in descendants(spans, confirmation))
    assert len(mailbox) == 1


# --8<-- [end:trace_test]


@pytest.mark.django_db(transaction=True)
def test_a_tasks_log_lines_carry_the_request_id_and_the_attempt(fast_retries, log_lines) -> None:
    request = RequestFactory().post("/api/sync/orders")
    with request_bound(request, request_id="req-77"), transaction.atomic():
        log_and_fail_once.enqueue(key="req-77")  # sent to Redis when the transaction commits

    drain(queues=["analytics"], kind="simple")

    lines = [line for line in log_lines() if line["log.logger"] == "tests.observability.tasks"]
    assert [(line["message"], line["http.request.id"], line["task.attempt"]) for line in lines] == [
        ("attempt 1 of req-77", "req-77", 1),
        ("attempt 2 of req-77", "req-77", 2),
    ]


class Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps every span posted to /v1/traces."""

    spans: ClassVar[list[tuple[str, str]]] = []
    server_traces: ClassVar[dict[str, bytes]] = {}  # a request (server) span's name: its trace
    traces: ClassVar[dict[str, set[bytes]]] = {}  # every span's name: the traces it is in

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            service = next(
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            )
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append((service, span.name))
                    self.traces.setdefault(span.name, set()).add(span.trace_id)
                    if span.kind == span.SPAN_KIND_SERVER:
                        self.server_traces[span.name] = span.trace_id
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Collector.spans, Collector.server_traces, Collector.traces = [], {}, {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


SERVE_ONE_REQUEST = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from opentelemetry import trace
status = Client().get("/api/sync/catalog/products").status_code
provider = trace.get_tracer_provider()
if hasattr(provider, "force_flush"):
    provider.force_flush()
print(json.dumps({
    "status": status, "middleware": settings.MIDDLEWARE[0], "provider": type(provider).__name__
}))
"""


SERVE_ONE_ASGI_REQUEST = """
import asyncio, json
import httpx
from opentelemetry import trace
from fashionistar.project.asgi import application
async def get() -> int:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # A caller's trace, sampled: the request's span joins it.
        traceparent = "00-" + "ab" * 16 + "-" + "cd" * 8 + "-01"
        headers = {"traceparent": traceparent}
        return (await client.get("/api/async/catalog/products", headers=headers)).status_code
status = asyncio.run(get())
trace.get_tracer_provider().force_flush()
layers = [type(application).__name__, type(application.application).__name__]
print(json.dumps({"status": status, "application": layers}))
"""


def serve_one_request(script: str = SERVE_ONE_REQUEST, **environ: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "LOG_LEVEL": "WARNING", **environ},
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_with_an_endpoint_spans_go_out_over_otlp_http(collector) -> None:
    served = serve_one_request(OTEL_EXPORTER_OTLP_ENDPOINT=collector, OTEL_SERVICE_NAME="shop-a")

    assert served["status"] == 200
    assert served["middleware"] == "fashionistar.observability.request_spans.TracingMiddleware"
    assert ("shop-a", "GET api/sync/catalog/products") in Collector.spans
    assert ("shop-a", "SELECT") in Collector.spans


@pytest.mark.django_db(transaction=True)
def test_under_asgi_the_request_span_is_the_parent_of_its_sql(collector) -> None:
    served = serve_one_request(SERVE_ONE_ASGI_REQUEST, OTEL_EXPORTER_OTLP_ENDPOINT=collector)

    # Static files are answered first; Django's handler is not wrapped by another tracing layer.
    assert served == {"status": 200, "application": ["ServeStaticASGI", "ASGIHandler"]}
    # One request span, from Django's instrumentation, named after the URL pattern as under WSGI.
    assert list(Collector.server_traces) == ["GET api/async/catalog/products"]
    (request_trace,) = Collector.server_traces.values()
    assert request_trace == bytes.fromhex("ab" * 16)  # the caller's traceparent, from the scope
    # The request's statements are in its trace; the pool opens connections in threads of its
    # own, so their set-up statement (Django's set_config) is a trace of its own.
    assert request_trace in Collector.traces["SELECT"]
    # No span per ASGI message, and no second span for the same request.
    assert not [name for _, name in Collector.spans if name.endswith(("http send", "http receive"))]
    assert [name for _, name in Collector.spans if name.startswith("GET ")] == [
        "GET api/async/catalog/products"
    ]


@pytest.mark.django_db(transaction=True)
def test_without_an_endpoint_nothing_is_instrumented(collector) -> None:
    served = serve_one_request()

    assert served["status"] == 200
    assert served["middleware"] == "fashionistar.observability.middleware.RequestIdMiddleware"
    assert served["provider"] == "ProxyTracerProvider"  # the API's no-op default
    assert Collector.spans == []


FORKED_CHILD_EXITS = """
import logging, os, django
django.setup()
from opentelemetry import trace
from fashionistar.observability.shutdown import flush
child = os.fork()
if child == 0:  # like RQ's work horse: run the task, then os._exit()
    with trace.get_tracer("task").start_as_current_span("task in the child"):
        logging.getLogger("task").warning("line from the child")
    flush()
    os._exit(0)
os.waitpid(child, 0)
"""


@pytest.mark.django_db(transaction=True)
def test_a_forked_child_that_exits_with_os_exit_loses_no_line_or_span(collector) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", FORKED_CHILD_EXITS],
        env={**env, "OTEL_EXPORTER_OTLP_ENDPOINT": collector, "OTEL_SERVICE_NAME": "worker"},
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["message"] for line in lines] == ["line from the child"]
    assert lines[0]["trace.id"]
    assert ("worker", "task in the child") in Collector.spans


def test_flush_is_harmless_in_a_process_that_goes_on(log_lines) -> None:
    exporter = memory_exporter()  # an SDK provider, which flush() asks to export
    exporter.clear()
    with trace.get_tracer("test").start_as_current_span("before exit"):
        logging.getLogger("tests.flush").warning("last words")
    flush()
    logging.getLogger("tests.flush").warning("and more")
    assert [line["message"] for line in log_lines()] == ["last words", "and more"]
    assert [span.name for span in exporter.get_finished_spans()] == ["before exit"]


def test_the_resource_is_hashed_without_serialising_it_again(monkeypatch) -> None:
    resource = provider().resource
    same = Resource(resource.attributes, resource.schema_url)
    expected = hash(same)

    def serialised(*args: object, **kwargs: object) -> str:
        raise AssertionError("the resource was serialised to be hashed")

    monkeypatch.setattr(resources, "dumps", serialised)

    assert resource == same
    assert hash(resource) == expected  # equal resources hash alike, as dictionary keys must
