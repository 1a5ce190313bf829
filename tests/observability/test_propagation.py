from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from structlog.contextvars import get_contextvars

from fashionistar.accounts.models import User
from fashionistar.observability.context import request_bound
from fashionistar.observability.propagation import capture, restore
from fashionistar.observability.tracing import memory_exporter

tracer = trace.get_tracer(__name__)


@pytest.fixture
def spans():
    exporter = memory_exporter()
    exporter.clear()
    return exporter


def request_as(user) -> object:
    request = RequestFactory().get("/")
    request.user = user
    return request


def test_capture_outside_a_request_and_span_is_empty() -> None:
    assert capture() == {}


def test_capture_takes_request_id_user_and_trace(spans) -> None:
    request = request_as(User(pk=7, username="ada"))
    with (
        request_bound(request, request_id="req-1"),
        tracer.start_as_current_span("request") as span,
    ):
        carrier = capture()
    context = span.get_span_context()
    traceparent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert carrier == {
        "request_id": "req-1",
        "user_id": "7",
        "traceparent": traceparent,
    }
    assert json.loads(json.dumps(carrier)) == carrier


def test_capture_never_loads_a_lazy_user() -> None:
    loaded = []
    request = request_as(SimpleLazyObject(lambda: loaded.append(1) or User(pk=3)))
    with request_bound(request, request_id="req-2"):
        assert capture() == {"request_id": "req-2"}
        assert loaded == []
        assert request.user.pk == 3  # the view loads it
        assert capture()["user_id"] == "3"


def test_capture_leaves_out_anonymous_users() -> None:
    with request_bound(request_as(AnonymousUser()), request_id="req-3"):
        assert capture() == {"request_id": "req-3"}


def test_restore_binds_request_user_and_attempt_then_unbinds() -> None:
    with restore({"request_id": "req-4", "user_id": "9"}, attempt=2):
        inside = get_contextvars()
    assert inside == {"http.request.id": "req-4", "user.id": "9", "task.attempt": 2}
    assert get_contextvars() == {}


def test_restore_puts_the_task_span_under_the_request_span(spans) -> None:
    with tracer.start_as_current_span("request") as request_span:
        carrier = capture()
    with restore(carrier, attempt=1, name="orders.send_confirmation"):
        inner = trace.get_current_span().get_span_context()

    task_span = next(s for s in spans.get_finished_spans() if s.name == "orders.send_confirmation")
    assert task_span.kind is SpanKind.CONSUMER
    assert task_span.context.trace_id == request_span.get_span_context().trace_id
    assert task_span.parent.span_id == request_span.get_span_context().span_id
    assert task_span.attributes["task.attempt"] == 1
    assert inner.span_id == task_span.context.span_id


def test_a_failing_attempt_is_recorded_on_its_span_and_raised(spans) -> None:
    with pytest.raises(RuntimeError, match="gateway down"), restore({}, attempt=3):
        raise RuntimeError("gateway down")
    (task_span,) = spans.get_finished_spans()
    assert task_span.status.status_code is StatusCode.ERROR
    assert task_span.events[0].name == "exception"
    assert task_span.parent is None  # no traceparent: the task starts its own trace
    assert get_contextvars() == {}


@pytest.mark.parametrize(
    "carrier",
    [{"traceparent": "garbage", "request_id": ""}, {"request_id": 5, "user_id": None}],
)
def test_restore_ignores_malformed_carriers(spans, carrier) -> None:
    with restore(carrier, attempt=1):
        assert get_contextvars() == {"task.attempt": 1}
    assert spans.get_finished_spans()[0].parent is None


def test_restore_nested_in_a_request_gives_the_request_its_context_back() -> None:
    with request_bound(request_as(AnonymousUser()), request_id="outer"):
        with restore({"request_id": "inner"}, attempt=1):
            assert get_contextvars()["http.request.id"] == "inner"
        assert get_contextvars() == {"http.request.id": "outer"}
