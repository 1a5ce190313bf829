"""Exercise 14: a span of our own, its queries under it, its log line in its trace, errors on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from tests.factories import make_product, make_user, variant_of

from fashionistar.observability.tracing import traced
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.orders.services import OrderItem, order_place

PARTICIPANT_FILE = "refunds.py"
SPAN = "orders.refund_quote"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def order() -> Order:
    dress = make_product(price="89.00", stock=5)
    return order_place(
        user=make_user(), items=[OrderItem(variant_id=variant_of(dress).pk, quantity=2)]
    )


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans in memory, with Django, psycopg and Redis instrumented for the test."""
    with traced() as exporter:
        connection.close()  # a connection opened before instrumenting is not traced:
        connection.close_pool()  # let the pool open new ones
        yield exporter


def the_span(exporter: InMemorySpanExporter):
    ours = [span for span in exporter.get_finished_spans() if span.name == SPAN]
    assert len(ours) == 1, f"{len(ours)} spans named {SPAN!r} were recorded; expected one"
    return ours[0]


def test_the_work_is_one_span_with_its_queries_under_it(participant, order, spans) -> None:
    assert participant.refund_quote(order_id=order.pk) == order.total
    span = the_span(spans)
    assert span.attributes.get("order.id") == order.pk
    assert span.attributes.get("refund.amount") == "178.00"
    # The pool opens connections in threads of its own: their statements are traces of their own.
    sql = [s for s in spans.get_finished_spans() if s.attributes.get("db.system") == "postgresql"]
    in_trace = [s for s in sql if s.context.trace_id == span.context.trace_id]
    assert len(in_trace) >= 2, "the order's SELECT and its sum are not in the span's trace"
    assert all(query.parent.span_id == span.context.span_id for query in in_trace)


def test_its_log_line_is_in_its_trace(participant, order, spans, log_lines) -> None:
    participant.refund_quote(order_id=order.pk)
    span = the_span(spans)
    (line,) = [line for line in log_lines() if line["message"] == "refund quoted"]
    assert line.get("trace.id") == format(span.context.trace_id, "032x")


def test_a_refusal_is_recorded_on_the_span_and_still_raised(participant, order, spans) -> None:
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    with pytest.raises(participant.RefundRefused):
        participant.refund_quote(order_id=order.pk)
    span = the_span(spans)
    assert span.status.status_code is StatusCode.ERROR
    (event,) = [event for event in span.events if event.name == "exception"]
    assert event.attributes["exception.type"].endswith("RefundRefused")
