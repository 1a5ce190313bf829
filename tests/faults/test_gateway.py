"""Fault tests: the card gateway fails (5xx) or answers after the client's timeout.

Through both APIs, against a real fake gateway (``fashionistar.payments.fake_gateway``) in a
thread, with the client's real timeouts (``fashionistar.payments.gateway.DEFAULT_TIMEOUT``):
the user gets a clear 503 ``payment_gateway_unavailable`` in the error shape, within the
timeout; a retry with the same ``Idempotency-Key`` once the gateway is well again pays the
order, and the gateway made exactly one charge.
"""

from __future__ import annotations

import time

import pytest

from fashionistar.payments.fake_gateway import GatewayServer, serve_in_thread
from fashionistar.payments.gateway import DEFAULT_TIMEOUT
from fashionistar.payments.models import Payment, PaymentStatus
from tests.api_support import Answer, assert_error, both_apis, call, token_for
from tests.factories import make_product, make_user, variant_of
from tests.payments.helpers import charges_made

pytestmark = pytest.mark.django_db(transaction=True)

READ_TIMEOUT_S = DEFAULT_TIMEOUT.read or 0.0
SLOWER_THAN_TIMEOUT_MS = int(READ_TIMEOUT_S * 1000) + 500
CARD = {"card_token": "tok_visa"}


def place_order(api: str, token: str) -> int:
    dress = variant_of(make_product(price="30.00", stock=5))
    answer = call(api, "post", "orders", token=token, body={"items": [{"variant_id": dress.pk, "quantity": 1}]})
    assert answer.status == 201, answer.body
    return int(answer.body["id"])


def pay(api: str, token: str, order_id: int, key: str) -> tuple[Answer, float]:
    started = time.monotonic()
    answer = call(
        api, "post", f"orders/{order_id}/pay", token=token, body=CARD,
        headers={"Idempotency-Key": key},
    )
    return answer, time.monotonic() - started


def assert_paid_once(server: GatewayServer, answer: Answer, order_id: int) -> None:
    assert answer.status == 201, answer.body
    assert charges_made(server, reference=None) == 1
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.gateway_charge_id) == (
        PaymentStatus.SUCCEEDED, answer.body["gateway_charge_id"],
    )


@both_apis
def test_a_failing_gateway_is_a_503_and_the_retry_charges_once(settings, api) -> None:
    token = token_for(make_user())
    order_id = place_order(api, token)
    with serve_in_thread(failure_rate=1.0) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        answer, seconds = pay(api, token, order_id, "pay-1")
        assert_error(answer, 503, "payment_gateway_unavailable")
        assert answer.body["extra"] == {"gateway_status": 503}
        assert charges_made(server) == 0
        server.state.failure_rate = 0.0  # the gateway is well again
        retried, _ = pay(api, token, order_id, "pay-1")
        print(f"{api} gateway 5xx: 503 in {seconds:.2f} s; retry with the same key: {retried.status}")
        assert_paid_once(server, retried, order_id)


@both_apis
def test_a_gateway_slower_than_the_timeout_is_a_503_within_it_and_charges_once(
    settings, api
) -> None:
    token = token_for(make_user())
    order_id = place_order(api, token)
    with serve_in_thread(latency_ms=SLOWER_THAN_TIMEOUT_MS) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        answer, seconds = pay(api, token, order_id, "pay-1")
        assert_error(answer, 503, "payment_gateway_unavailable")
        assert answer.body["extra"] == {"reason": "timeout"}
        assert READ_TIMEOUT_S <= seconds < READ_TIMEOUT_S + 1.0  # the timeout, not a hang
        time.sleep(1.0)  # the gateway finishes the charge nobody waited for
        assert charges_made(server) == 1
        server.state.latency_s = 0.0
        retried, _ = pay(api, token, order_id, "pay-1")
        print(
            f"{api} gateway slower than the {READ_TIMEOUT_S:.0f} s timeout: 503 in "
            f"{seconds:.2f} s; retry with the same key: {retried.status}"
        )
        assert_paid_once(server, retried, order_id)
