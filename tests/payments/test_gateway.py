"""The gateway client: requests built once, answers mapped to domain errors, hard timeouts."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from fashionistar.payments.gateway import (
    ChargeRequest,
    GatewayUnavailable,
    PaymentDeclined,
    gateway_base_url,
    gateway_charge,
    read_charge_response,
)
from fashionistar_dev.partners import serve_in_thread
from fashionistar_dev.processes import free_port
from tests.payments.helpers import charges_made

CHARGE = ChargeRequest(
    amount=Decimal("12.50"),
    currency="EUR",
    card_token="tok_visa",
    reference="order-7",
    idempotency_key="pay-1",
)


def test_the_request_carries_the_key_the_body_and_the_timeouts(settings) -> None:
    settings.PAYMENT_GATEWAY_URL = "http://gateway.test:9000/"
    request = CHARGE.http_request(timeout=httpx.Timeout(1.5))
    assert request.method == "POST"
    assert str(request.url) == "http://gateway.test:9000/v1/charges"
    assert request.headers["Idempotency-Key"] == "pay-1"
    assert json.loads(request.content) == {
        "amount": "12.50",
        "currency": "EUR",
        "card_token": "tok_visa",
        "reference": "order-7",
    }
    assert request.extensions["timeout"]["read"] == 1.5


@pytest.mark.parametrize("url", ["", "gateway:9000", "ftp://gateway"])
def test_a_missing_or_wrong_url_is_a_configuration_error(settings, url: str) -> None:
    settings.PAYMENT_GATEWAY_URL = url
    with pytest.raises(ImproperlyConfigured, match="PAYMENT_GATEWAY_URL"):
        gateway_base_url()


def test_a_charge_succeeds(gateway) -> None:
    charge = gateway_charge(charge=CHARGE)
    assert charge.charge_id.startswith("ch_")
    assert (charge.status, charge.amount, charge.currency) == ("succeeded", Decimal("12.50"), "EUR")
    assert not charge.replayed
    again = gateway_charge(charge=CHARGE)
    assert again.charge_id == charge.charge_id
    assert again.replayed
    assert charges_made(gateway, "order-7") == 1


def test_a_declined_card_is_a_402_error(gateway) -> None:
    with pytest.raises(PaymentDeclined) as caught:
        gateway_charge(charge=replace(CHARGE, card_token="tok_declined"))
    assert caught.value.status_code == 402


def test_a_5xx_is_a_503_error(settings) -> None:
    with serve_in_thread(failure_rate=1.0) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        with pytest.raises(GatewayUnavailable) as caught:
            gateway_charge(charge=CHARGE)
    assert caught.value.status_code == 503
    assert caught.value.extra == {"gateway_status": 503}


def test_a_slow_gateway_times_out_instead_of_hanging(settings) -> None:
    with serve_in_thread(latency_ms=3000) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        started = time.monotonic()
        with pytest.raises(GatewayUnavailable) as caught:
            gateway_charge(charge=CHARGE, timeout=httpx.Timeout(0.2))
        assert time.monotonic() - started < 1.5
    assert caught.value.status_code == 503
    assert caught.value.extra == {"reason": "timeout"}


def test_a_retry_after_a_timeout_with_the_same_key_does_not_charge_twice(settings) -> None:
    with serve_in_thread(latency_ms=400) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        with pytest.raises(GatewayUnavailable):
            gateway_charge(charge=CHARGE, timeout=httpx.Timeout(0.1))
        time.sleep(0.6)  # the gateway finishes the charge we gave up waiting for
        charge = gateway_charge(charge=CHARGE)
        assert charge.replayed
        assert charges_made(server, "order-7") == 1


def test_nobody_listening_is_a_503_error(settings) -> None:
    settings.PAYMENT_GATEWAY_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(GatewayUnavailable) as caught:
        gateway_charge(charge=CHARGE)
    assert caught.value.extra == {"reason": "transport"}


@pytest.mark.parametrize(
    ("status", "content"),
    [(201, b"not json"), (201, b'{"id": "ch_1"}'), (400, b"{}"), (409, b"{}")],
)
def test_an_unexpected_answer_is_a_503_error(status: int, content: bytes) -> None:
    with pytest.raises(GatewayUnavailable) as caught:
        read_charge_response(httpx.Response(status, content=content))
    assert caught.value.extra == {"gateway_status": status}
