"""payment_charge: one charge per idempotency key, replays, conflicts, and a real race."""

from __future__ import annotations

import functools
import threading
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.db import connection, transaction
from django.utils import timezone

from fashionistar.kernel.errors import ApplicationError
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.payments import services
from fashionistar.payments.gateway import gateway_charge
from fashionistar.payments.models import IdempotencyKey, IdempotencyKeyState, Payment, PaymentStatus
from fashionistar.payments.services import (
    ChargeOutcome,
    GatewayUnavailable,
    IdempotencyKeyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    InvalidPayment,
    payment_charge,
    request_fingerprint,
)
from tests.factories import make_user
from tests.payments.helpers import charges_made, make_order

VISA = {"card_token": "tok_visa"}


def charge(user: Any, order: Order, key: str | None = "key-1", payload: dict | None = None):
    return payment_charge(
        user=user,
        order_id=order.pk,
        idempotency_key=key,
        payload=VISA if payload is None else payload,
    )


@pytest.mark.django_db
def test_a_charge_pays_the_order_total_once(gateway, customer) -> None:
    order = make_order(customer, "10.00")
    outcome = charge(customer, order, payload={"card_token": "tok_visa", "amount": "0.01"})
    assert outcome.status_code == 201
    assert not outcome.replayed
    payment = Payment.objects.get()
    assert outcome.body == {
        "payment_id": payment.pk,
        "order_id": order.pk,
        "status": "succeeded",
        "amount": "10.00",
        "currency": "EUR",
        "gateway_charge_id": payment.gateway_charge_id,
    }
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.amount == Decimal("10.00")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    charges = httpx.get(f"{gateway.url}/v1/charges", params={"reference": f"order-{order.pk}"})
    assert [c["amount"] for c in charges.json()["data"]] == ["10.00"]  # the order's, not 0.01
    key = IdempotencyKey.objects.get()
    assert (key.state, key.response_status, key.locked_at) == ("completed", 201, None)


@pytest.mark.django_db
def test_the_same_key_and_body_replay_the_first_response(gateway, customer) -> None:
    order = make_order(customer)
    first = charge(customer, order)
    second = charge(customer, order, payload={"card_token": "tok_visa"})
    assert second == ChargeOutcome(first.status_code, first.body, replayed=True)
    assert charges_made(gateway) == 1
    assert Payment.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_one_user(gateway, customer) -> None:
    other = make_user()
    charge(customer, make_order(customer), key="shared")
    outcome = charge(other, make_order(other), key="shared")
    assert (outcome.status_code, outcome.replayed) == (201, False)
    assert charges_made(gateway) == 2


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_422(gateway, customer) -> None:
    order = make_order(customer)
    charge(customer, order)
    with pytest.raises(IdempotencyKeyReused) as caught:
        charge(customer, order, payload={"card_token": "tok_mastercard"})
    assert caught.value.status_code == 422
    with pytest.raises(IdempotencyKeyReused):
        charge(customer, make_order(customer))  # another order is another request
    assert charges_made(gateway) == 1


@pytest.mark.django_db
def test_the_same_key_while_the_first_runs_is_409(gateway, customer) -> None:
    order = make_order(customer)
    IdempotencyKey.objects.create(
        user=customer,
        key="key-1",
        fingerprint=request_fingerprint(order_id=order.pk, payload=VISA),
        locked_at=timezone.now(),
    )
    with pytest.raises(IdempotencyKeyInFlight) as caught:
        charge(customer, order)
    assert caught.value.status_code == 409
    assert charges_made(gateway) == 0


@pytest.mark.django_db
def test_a_key_left_by_a_crashed_request_is_taken_over(gateway, customer) -> None:
    order = make_order(customer)
    now = timezone.now()
    IdempotencyKey.objects.create(
        user=customer,
        key="key-1",
        fingerprint=request_fingerprint(order_id=order.pk, payload=VISA),
        locked_at=now - services.KEY_LEASE - timedelta(seconds=1),
    )
    outcome = payment_charge(
        user=customer, order_id=order.pk, idempotency_key="key-1", payload=VISA, now=now
    )
    assert outcome.status_code == 201
    assert charges_made(gateway) == 1


@pytest.mark.django_db
def test_no_key_is_400(gateway, customer) -> None:
    with pytest.raises(IdempotencyKeyMissing) as caught:
        charge(customer, make_order(customer), key=None)
    assert caught.value.status_code == 400
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "k" * 256, "line\nbreak", "tab\there", "clé"])
def test_a_malformed_key_is_400(gateway, customer, key: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid) as caught:
        charge(customer, make_order(customer), key=key)
    assert caught.value.status_code == 400
    assert IdempotencyKey.objects.count() == 0
    assert charges_made(gateway) == 0


@pytest.mark.django_db
def test_the_longest_key_is_accepted(gateway, customer) -> None:
    assert charge(customer, make_order(customer), key="k" * 255).status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("payload", [{}, {"card_token": ""}, {"card_token": 4}])
def test_a_payload_without_a_card_is_400_and_not_stored(gateway, customer, payload) -> None:
    with pytest.raises(InvalidPayment) as caught:
        charge(customer, make_order(customer), payload=payload)
    assert caught.value.status_code == 400
    assert IdempotencyKey.objects.count() == 0


def test_the_fingerprint_ignores_field_order_but_not_values() -> None:
    one = request_fingerprint(order_id=1, payload={"a": 1, "card_token": "t"})
    assert one == request_fingerprint(order_id=1, payload={"card_token": "t", "a": 1})
    assert one != request_fingerprint(order_id=2, payload={"a": 1, "card_token": "t"})
    assert len(one) == 64
    with pytest.raises(InvalidPayment):
        request_fingerprint(order_id=1, payload={"card_token": "t", "when": timezone.now()})


@pytest.mark.django_db
def test_a_declined_card_is_402_and_replayed(gateway, customer) -> None:
    order = make_order(customer)
    declined = {"card_token": "tok_declined"}
    first = charge(customer, order, payload=declined)
    assert first.status_code == 402
    assert first.body["code"] == "payment_declined"
    assert charge(customer, order, payload=declined) == ChargeOutcome(402, first.body, True)
    assert Payment.objects.get().status == PaymentStatus.DECLINED
    order.refresh_from_db()
    assert order.status == OrderStatus.PLACED
    # Another card, under a new key, may pay the order.
    assert charge(customer, order, key="key-2").status_code == 201
    assert charges_made(gateway, f"order-{order.pk}") == 2


@pytest.mark.django_db
def test_someone_elses_order_is_404_and_replayed(gateway, customer) -> None:
    order = make_order(make_user())
    first = charge(customer, order)
    assert first.status_code == 404
    assert first.body["code"] == "not_found"
    assert charge(customer, order).replayed
    assert charges_made(gateway) == 0


@pytest.mark.django_db
def test_an_order_that_is_not_placed_is_409(gateway, customer) -> None:
    order = make_order(customer)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    outcome = charge(customer, order)
    assert outcome.status_code == 409
    assert outcome.body["code"] == "order_not_payable"
    assert charges_made(gateway) == 0


@pytest.mark.django_db
def test_a_second_key_cannot_pay_a_paid_order_again(gateway, customer) -> None:
    order = make_order(customer)
    assert charge(customer, order, key="key-1").status_code == 201
    outcome = charge(customer, order, key="key-2")
    assert (outcome.status_code, outcome.body["code"]) == (409, "order_not_payable")
    assert charges_made(gateway) == 1


@pytest.mark.django_db
def test_a_second_key_cannot_charge_while_a_payment_is_pending(gateway, customer) -> None:
    order = make_order(customer)
    other_key = IdempotencyKey.objects.create(user=customer, key="other", fingerprint="f")
    Payment.objects.create(
        order=order, idempotency_key=other_key, amount=order.total, currency="EUR"
    )
    outcome = charge(customer, order)
    assert (outcome.status_code, outcome.body["code"]) == (409, "order_not_payable")
    assert charges_made(gateway) == 0


@pytest.mark.django_db
def test_a_gateway_failure_is_503_and_a_retry_with_the_key_charges_once(gateway, customer):
    order = make_order(customer)
    gateway.state.failure_rate = 1.0
    with pytest.raises(GatewayUnavailable) as caught:
        charge(customer, order)
    assert caught.value.status_code == 503
    key = IdempotencyKey.objects.get()
    assert (key.state, key.locked_at) == (IdempotencyKeyState.IN_PROGRESS, None)
    pending = Payment.objects.get()
    assert pending.status == PaymentStatus.PENDING
    gateway.state.failure_rate = 0.0
    outcome = charge(customer, order)
    assert (outcome.status_code, outcome.replayed) == (201, False)
    assert outcome.body["payment_id"] == pending.pk
    assert charges_made(gateway) == 1


@pytest.mark.django_db
def test_a_timeout_after_the_gateway_charged_is_retried_without_a_second_charge(
    settings, customer, monkeypatch
) -> None:
    from fashionistar_dev.partners import serve_in_thread

    order = make_order(customer)
    with serve_in_thread(latency_ms=300) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        impatient = functools.partial(gateway_charge, timeout=httpx.Timeout(0.05))
        monkeypatch.setattr(services, "gateway_charge", impatient)
        with pytest.raises(GatewayUnavailable):
            charge(customer, order)
        time.sleep(0.5)  # the gateway completes the charge nobody waited for
        monkeypatch.setattr(services, "gateway_charge", gateway_charge)
        outcome = charge(customer, order)
        assert outcome.status_code == 201
        assert charges_made(server) == 1
    assert Payment.objects.get().gateway_charge_id == outcome.body["gateway_charge_id"]


@pytest.mark.django_db
def test_an_order_cancelled_during_the_charge_is_kept_for_a_refund(
    gateway, customer, monkeypatch
) -> None:
    order = make_order(customer)

    def cancel_then_charge(**kwargs: Any) -> Any:
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
        return gateway_charge(**kwargs)

    monkeypatch.setattr(services, "gateway_charge", cancel_then_charge)
    outcome = charge(customer, order)
    assert (outcome.status_code, outcome.body["code"]) == (409, "order_not_payable")
    assert outcome.body["extra"]["reason"] == "invalid_transition"
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.REFUND_DUE
    assert payment.gateway_charge_id.startswith("ch_")
    assert charges_made(gateway) == 1


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_during_the_gateway_call(gateway, customer, monkeypatch) -> None:
    seen: list[bool] = []

    def watching(**kwargs: Any) -> Any:
        seen.append(connection.in_atomic_block)
        return gateway_charge(**kwargs)

    monkeypatch.setattr(services, "gateway_charge", watching)
    assert charge(customer, make_order(customer)).status_code == 201
    assert seen == [False]


@pytest.mark.django_db(transaction=True)
def test_calling_it_inside_a_transaction_fails_loudly(gateway, customer) -> None:
    order = make_order(customer)
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        charge(customer, order)
    assert charges_made(gateway) == 0


# --8<-- [start:concurrent_charges_test]
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_identical_charges_make_one(settings, customer) -> None:
    from fashionistar_dev.partners import serve_in_thread

    order = make_order(customer)
    threads_count = 20
    start = threading.Barrier(threads_count)
    results: list[ChargeOutcome | ApplicationError] = []
    lock = threading.Lock()

    def attempt() -> None:
        try:
            start.wait()
            try:
                result: ChargeOutcome | ApplicationError = charge(customer, order, key="race")
            except ApplicationError as error:
                result = error
            with lock:
                results.append(result)
        finally:
            connection.close()

    with serve_in_thread(latency_ms=300) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        threads = [threading.Thread(target=attempt) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        completed = [r for r in results if isinstance(r, ChargeOutcome)]
        refused = [r for r in results if isinstance(r, ApplicationError)]
        assert len(results) == threads_count
        assert charges_made(server, f"order-{order.pk}") == 1
        assert [c.status_code for c in completed].count(201) == len(completed) >= 1
        assert len({repr(c.body) for c in completed}) == 1  # identical responses
        assert [c.replayed for c in completed].count(False) == 1  # one ran, others replayed
        assert all(isinstance(r, IdempotencyKeyInFlight) for r in refused)
        assert all(r.status_code == 409 for r in refused)

        retry = charge(customer, order, key="race")
        assert retry == ChargeOutcome(201, completed[0].body, replayed=True)
        assert charges_made(server, f"order-{order.pk}") == 1
    assert Payment.objects.filter(order=order).count() == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID


# --8<-- [end:concurrent_charges_test]
