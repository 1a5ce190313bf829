"""Checkout summary: four services asked at once, each failure contained, only the owner's order."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler

import pytest
from asgiref.sync import async_to_sync

from fashionistar.kernel.errors import NotFound
from fashionistar.orders.async_services import ShippingQuote, acheckout_summary
from fashionistar.orders.services import OrderItem, order_place
from fashionistar_dev.partners import GatewayServer, serve_in_thread
from fashionistar_dev.processes import free_port, serving
from tests.api_support import ASYNC, assert_error, call
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db(transaction=True)

summary = async_to_sync(acheckout_summary)


@pytest.fixture
def partners(settings) -> Iterator[GatewayServer]:
    """One fake server that plays the gateway, the shipping and the fraud service."""
    with serve_in_thread(latency_ms=100) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        settings.SHIPPING_SERVICE_URL = server.url
        settings.FRAUD_SERVICE_URL = server.url
        yield server


@pytest.fixture
def order():
    customer = make_user()
    dress = make_product(price="89.00", stock=5)
    return order_place(
        user=customer, items=[OrderItem(variant_id=variant_of(dress).pk, quantity=2)]
    )


def test_the_summary_asks_every_partner_and_they_overlap(partners, order) -> None:
    result = summary(user=order.user, order_id=order.pk, country="DE")
    assert result.total == Decimal("178.00")
    assert result.shipping == ShippingQuote(Decimal("5.90"), "EUR", 2)
    assert result.fraud_verdict == "accept"
    assert result.gateway_charges == 0
    assert result.recent_views == 1
    # The three HTTP calls were inside the server at the same time: they really overlapped.
    assert partners.state.peak_in_flight == 3
    assert summary(user=order.user, order_id=order.pk, country="US").recent_views == 2


def test_a_partner_that_is_down_does_not_sink_the_checkout(settings, partners, order, caplog):
    settings.FRAUD_SERVICE_URL = f"http://127.0.0.1:{free_port()}"  # nobody listens
    with caplog.at_level(logging.WARNING, "fashionistar.orders.async_services"):
        result = summary(user=order.user, order_id=order.pk, country="FR")
    assert result.fraud_verdict == "unknown"
    assert result.shipping is not None
    assert result.shipping.days == 2
    [record] = caplog.records
    assert "fraud check did not answer" in record.getMessage()
    assert record.exc_info is not None


def test_a_partner_error_status_shows_as_unknown(settings, order) -> None:
    with serve_in_thread(failure_rate=1.0) as broken:
        settings.PAYMENT_GATEWAY_URL = broken.url
        settings.SHIPPING_SERVICE_URL = f"{broken.url}/nowhere"  # 404
        settings.FRAUD_SERVICE_URL = broken.url
        result = summary(user=order.user, order_id=order.pk, country="DE")
    assert (result.shipping, result.gateway_charges) == (None, 0)
    assert result.fraud_verdict == "accept"


@contextmanager
def answering(body: bytes) -> Iterator[str]:
    """An HTTP server that answers every request 200 with this JSON body; yields its URL."""

    class Canned(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Canned) as url:
        yield url


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        (b"null", "unknown"),
        (b'["accept"]', "unknown"),
        (b'{"amount": null, "currency": "EUR", "days": null, "verdict": "accept", "count": null}',
         "accept"),
        (b'{"amount": "1e999999999", "currency": "EUR", "days": 2, "verdict": "accept",'
         b' "count": true}', "accept"),
        (b'{"amount": "NaN", "currency": "EUR", "days": [2], "verdict": "accept", "count": [1]}',
         "accept"),
    ],
    ids=["null", "a list", "nulls", "huge amount, boolean count", "NaN, lists"],
)  # fmt: skip
def test_a_partner_answering_unexpected_json_shows_as_unknown(settings, order, body, verdict):
    with answering(body) as url:
        settings.PAYMENT_GATEWAY_URL = settings.SHIPPING_SERVICE_URL = url
        settings.FRAUD_SERVICE_URL = url
        result = summary(user=order.user, order_id=order.pk, country="DE")
    assert (result.shipping, result.gateway_charges) == (None, None)
    assert result.fraud_verdict == verdict


def test_another_customers_order_is_not_found(partners, order) -> None:
    with pytest.raises(NotFound):
        summary(user=make_user(), order_id=order.pk, country="DE")
    assert partners.state.peak_in_flight == 0


def test_the_endpoint_validates_and_answers(partners, order) -> None:
    path = f"orders/{order.pk}/checkout"
    answer = call(ASYNC, "get", path, user=order.user, query={"country": "de"})
    assert answer.status == 200
    assert answer.body == {
        "order_id": order.pk,
        "total": "178.00",
        "currency": "EUR",
        "shipping": {"amount": "5.90", "currency": "EUR", "days": 2},
        "fraud_verdict": "accept",
        "gateway_charges": 0,
        "recent_views": 1,
    }
    for bad in ({}, {"country": "DEU"}, {"country": "1"}):
        assert_error(call(ASYNC, "get", path, user=order.user, query=bad), 400, "invalid_input")
    assert call(ASYNC, "get", path, query={"country": "DE"}).status == 401
    other = call(ASYNC, "get", path, user=make_user(), query={"country": "DE"})
    assert_error(other, 404, "not_found")
