"""Payment endpoints, in both APIs: one charge per key, declines, an order's payments, bad input."""

from __future__ import annotations

import re

import pytest

from fashionistar.kernel.apis import ID_SCHEMA, IDEMPOTENCY_KEY_SCHEMA
from fashionistar.kernel.idempotency import IdempotencyKeyInvalid, key_validate
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.payments.models import Payment
from fashionistar_dev.partners import serve_in_thread
from tests.api_support import (
    assert_error,
    body_schema,
    both_apis,
    call,
    operation,
    parameter,
    place,
)
from tests.payments.helpers import charges_made

pytestmark = pytest.mark.django_db(transaction=True)


@both_apis
def test_paying_charges_once_and_replays_the_answer(api, alice, dress, settings) -> None:
    order_id = place(api, alice, dress).body["id"]
    with serve_in_thread() as gateway:
        settings.PAYMENT_GATEWAY_URL = gateway.url
        pay = {"body": {"card_token": "tok_visa"}, "headers": {"Idempotency-Key": "pay-1"}}

        first = call(api, "post", f"orders/{order_id}/pay", user=alice, **pay)
        second = call(api, "post", f"orders/{order_id}/pay", user=alice, **pay)

        assert charges_made(gateway) == 1
    assert first.status == 201, first.body
    assert first.body["order_id"] == order_id
    assert first.body["amount"] == "178.00"
    assert first.body["status"] == "succeeded"
    assert "Idempotent-Replayed" not in first.headers
    assert second.status == 201
    assert second.body == first.body
    assert second.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.get().status == OrderStatus.PAID
    assert Payment.objects.count() == 1


@both_apis
def test_a_declined_card_is_402(api, alice, dress, settings) -> None:
    order_id = place(api, alice, dress).body["id"]
    with serve_in_thread() as gateway:
        settings.PAYMENT_GATEWAY_URL = gateway.url
        answer = call(
            api,
            "post",
            f"orders/{order_id}/pay",
            user=alice,
            body={"card_token": "tok_declined"},
            headers={"Idempotency-Key": "pay-2"},
        )

    assert_error(answer, 402, "payment_declined")
    assert Order.objects.get().status == OrderStatus.PLACED


@both_apis
def test_an_order_shows_its_payments_newest_first(api, alice, dress, settings) -> None:
    order_id = place(api, alice, dress).body["id"]
    with serve_in_thread() as gateway:
        settings.PAYMENT_GATEWAY_URL = gateway.url
        for key, card in (("pay-3", "tok_declined"), ("pay-4", "tok_visa")):
            pay = {"body": {"card_token": card}, "headers": {"Idempotency-Key": key}}
            call(api, "post", f"orders/{order_id}/pay", user=alice, **pay)

    detail = call(api, "get", f"orders/{order_id}", user=alice).body
    listed = call(api, "get", "orders", user=alice).body["results"][0]

    declined, succeeded = Payment.objects.order_by("pk")
    assert [
        (shown["payment_id"], shown["status"], shown["amount"], shown["currency"])
        for shown in detail["payments"]
    ] == [(succeeded.pk, "succeeded", "178.00", "EUR"), (declined.pk, "declined", "178.00", "EUR")]
    assert all(shown["created_at"].endswith("Z") for shown in detail["payments"])
    assert listed["payments"] == detail["payments"]


@both_apis
@pytest.mark.parametrize(
    ("headers", "raw", "status", "code"),
    [
        ({}, '{"card_token": "tok_visa"}', 400, "idempotency_key_missing"),
        ({"Idempotency-Key": "k"}, "{}", 400, "invalid_payment"),
        ({"Idempotency-Key": "k"}, '["tok_visa"]', 400, "invalid_payment"),
        ({"Idempotency-Key": "k"}, '{"card_token": 5}', 400, "invalid_payment"),
        ({"Idempotency-Key": "k"}, "{nope", 400, "malformed_request"),
    ],
)
def test_bad_payment_requests_are_4xx(api, alice, dress, headers, raw, status, code) -> None:
    order_id = place(api, alice, dress).body["id"]

    answer = call(api, "post", f"orders/{order_id}/pay", user=alice, raw=raw, headers=headers)

    assert_error(answer, status, code)
    assert not Payment.objects.exists()


@both_apis
def test_the_schemas_state_the_payment_rules(api) -> None:
    paying = operation(api, "post", "orders/{order_id}/pay")
    body = body_schema(api, paying)
    key = next(p for p in paying["parameters"] if p["name"] == "Idempotency-Key")

    assert body["required"] == ["card_token"]
    card_token = body["properties"]["card_token"]
    assert (card_token["minLength"], card_token["maxLength"]) == (1, 255)
    assert key["required"] is True
    assert key["schema"] == IDEMPOTENCY_KEY_SCHEMA
    assert parameter(paying, "order_id")["maximum"] == ID_SCHEMA["maximum"]


@pytest.mark.parametrize(
    ("key", "valid"),
    [("k", True), ("order-42 retry", True), ("~" * 255, True), (" k", False), ("k" * 256, False)],
)
def test_the_idempotency_key_pattern_is_what_the_service_takes(key, valid) -> None:
    stated = re.fullmatch(IDEMPOTENCY_KEY_SCHEMA["pattern"], key) is not None
    stated = stated and len(key) <= IDEMPOTENCY_KEY_SCHEMA["maxLength"]
    try:
        taken = key_validate(key.strip()) == key  # HTTP trims the spaces at either end
    except IdempotencyKeyInvalid:
        taken = False
    assert stated is taken is valid
