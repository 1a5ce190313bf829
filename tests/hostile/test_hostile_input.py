"""Hostile input the table of ``tests/project/test_api_errors.py`` does not cover: a 4xx in the
error shape from both APIs, never a 500, and nothing written.

NUL characters (in a query, a path, a token, credentials), a JSON body nested thousands deep
and a slug that is not a slug answered 500 before: the cases marked ``# was 500`` are their
regression tests. The Ninja API also parsed a JSON body sent as ``text/plain`` or a form and
placed the order: ``test_a_body_that_is_not_json_is_a_4xx`` is its regression test.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from fashionistar.inventory.models import Stock
from fashionistar.orders.models import Order
from fashionistar.payments.models import IdempotencyKey, Payment
from tests.api_support import (
    ASYNC,
    SYNC,
    assert_error,
    assert_invalid_fields,
    both_apis,
    call,
    token_for,
)
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db(transaction=True)

MAX_BIGINT = 2**63 - 1
ASTRAL = "\U0001f469\u200d\U0001f469\u200d\U0001f467"  # a family emoji: 3 code points + 2 joiners


@pytest.fixture
def shelf():
    """One product with 5 units, and a customer."""
    return variant_of(make_product(name="Silk Dress", stock=5)), make_user()


def assert_nothing_written(variant) -> None:
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert Stock.objects.get(variant=variant).quantity == 5


# ---------------------------------------------------------------------------------------------
# Query strings and paths


SEARCHES_FOUND_NOTHING = [
    "%",  # LIKE wildcards are escaped, not a "match everything"
    "_",
    "\\",
    "'; DROP TABLE catalog_product; --",
    "\u202eesserd",  # right-to-left override
    "e\u0301",  # e + combining acute accent
    ASTRAL,
    "\U0001f600" * 200,  # 200 code points (the limit), 800 bytes
    "\u200b",  # zero-width space
]


@both_apis
@pytest.mark.parametrize("search", SEARCHES_FOUND_NOTHING, ids=repr)
def test_odd_searches_find_nothing_and_break_nothing(api, shelf, search) -> None:
    answer = call(api, "get", "catalog/products", query={"search": search})

    assert answer.status == 200, answer.body
    assert answer.body["count"] == 0


@both_apis
def test_a_search_is_case_and_unicode_aware(api, shelf) -> None:
    answer = call(api, "get", "catalog/products", query={"search": "SILK"})

    assert answer.body["count"] == 1


@both_apis
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"search": "silk\x00"}, "search"),  # was 500 (Ninja)
        ({"category": "\x00"}, "category"),  # was 500 (Ninja)
        ({"sort": "name\x00"}, "sort"),
        ({"currency": "EUR\x00"}, "currency"),
        ({"search": "\U0001f600" * 201}, "search"),  # one code point over the limit
        ({"page": "\x00"}, "page"),
        ({"page": "1e3"}, "page"),
        ({"page_size": "-0"}, "page_size"),
    ],
    ids=repr,
)
def test_bad_query_values_are_400_naming_the_field(api, query, field) -> None:
    answer = call(api, "get", "catalog/products", query=query)

    assert_invalid_fields(answer, field)


@both_apis
def test_two_thousand_query_parameters_are_400(api) -> None:
    query = "&".join(f"p{i}=1" for i in range(2000))  # Django's limit is 1000 fields

    answer = call(api, "get", f"catalog/products?{query}")

    assert_error(answer, 400)


@both_apis
@pytest.mark.parametrize(
    "slug",
    ["%00", "silk%00dress", "caf%C3%A9", "x" * 5000, "%E2%80%AE"],
    ids=["nul", "nul inside", "accent", "5000 chars", "rtl override"],
)
def test_a_slug_that_cannot_exist_is_400(api, slug) -> None:  # was 500 (NUL, both APIs)
    answer = call(api, "get", f"catalog/products/{slug}")

    assert_invalid_fields(answer, "slug")


BIG_IDS = [MAX_BIGINT, MAX_BIGINT + 1, 2**64, 10**40]


@both_apis
@pytest.mark.parametrize("order_id", BIG_IDS, ids=["2**63-1", "2**63", "2**64", "10**40"])
@pytest.mark.parametrize(
    ("method", "suffix", "kwargs"),
    [
        ("get", "", {}),
        ("post", "/cancel", {}),
        ("post", "/pay", {"body": {"card_token": "tok_visa"}, "headers": {"Idempotency-Key": "k"}}),
    ],
    ids=["detail", "cancel", "pay"],
)
def test_ids_at_and_past_bigint_are_404(api, shelf, order_id, method, suffix, kwargs) -> None:
    variant, user = shelf

    answer = call(api, method, f"orders/{order_id}{suffix}", user=user, **kwargs)

    assert_error(answer, 404, "not_found")
    assert_nothing_written(variant)


@pytest.mark.parametrize("order_id", BIG_IDS, ids=["2**63-1", "2**63", "2**64", "10**40"])
def test_checkout_of_ids_past_bigint_is_404(shelf, order_id) -> None:
    answer = call(
        ASYNC, "get", f"orders/{order_id}/checkout", user=shelf[1], query={"country": "FR"}
    )

    assert_error(answer, 404, "not_found")


# ---------------------------------------------------------------------------------------------
# Headers

LONG = "a" * 65536


@both_apis
@pytest.mark.parametrize(
    "authorization",
    [
        "Token \x00",  # was 500 (both APIs)
        "Token abc\x00def",
        f"Token {LONG}",
        "Token",
        "Token ",
        "Token a b",
        "Token cl\u00e9",
        "Bearer abc",
        "Basic Zm9vOmJhcg==",
        "\x00",
        LONG,
    ],
    ids=[
        "nul",
        "nul inside",
        "64 KiB key",
        "no key",
        "blank key",
        "two keys",
        "latin-1",
        "bearer",
        "basic",
        "only nul",
        "64 KiB",
    ],
)
def test_a_malformed_authorization_header_is_401(api, shelf, authorization) -> None:
    variant, _ = shelf
    body = {"items": [{"variant_id": variant.pk, "quantity": 1}]}

    answer = call(api, "post", "orders", body=body, headers={"Authorization": authorization})

    assert_error(answer, 401, "not_authenticated")
    assert_nothing_written(variant)


@pytest.fixture
def order_of(shelf):
    variant, user = shelf
    body = {"items": [{"variant_id": variant.pk, "quantity": 1}]}
    order_id = call(SYNC, "post", "orders", user=user, body=body).body["id"]
    return order_id, user


@both_apis
@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, LONG, "cl\u00e9", "tab\there", "bell\x07", "del\x7f", "nul\x00"],
    ids=["empty", "256 chars", "64 KiB", "latin-1", "tab", "bell", "del", "nul"],
)
def test_a_malformed_idempotency_key_is_400_and_charges_nothing(api, order_of, key) -> None:
    order_id, user = order_of

    answer = call(
        api,
        "post",
        f"orders/{order_id}/pay",
        user=user,
        body={"card_token": "tok_visa"},
        headers={"Idempotency-Key": key},
    )

    assert_error(answer, 400, "idempotency_key_invalid")
    assert not Payment.objects.exists()
    assert not IdempotencyKey.objects.exists()


@both_apis
@pytest.mark.parametrize(
    "payload",
    [{"card_token": "t" * 256}, {"card_token": ""}, {"card_token": None}, {"card_token": ["t"]}],
    ids=["256 chars", "empty", "null", "a list"],
)
def test_a_card_token_that_cannot_be_one_is_400(api, order_of, payload) -> None:
    order_id, user = order_of

    answer = call(
        api,
        "post",
        f"orders/{order_id}/pay",
        user=user,
        body=payload,
        headers={"Idempotency-Key": "pay-1"},
    )

    assert_error(answer, 400, "invalid_payment")
    assert not Payment.objects.exists()


@both_apis
@pytest.mark.parametrize(
    "raw",
    ["[" * 100_000 + "]" * 100_000, "\ufeff" + '{"card_token": "tok_visa"}'],
    ids=["nested 100000 deep", "byte-order mark first"],
)
def test_a_payment_body_that_json_cannot_read_is_400(api, order_of, raw) -> None:
    order_id, user = order_of

    answer = call(
        api, "post", f"orders/{order_id}/pay", user=user, raw=raw, headers={"Idempotency-Key": "p"}
    )

    assert_error(answer, 400, "malformed_request")
    assert not Payment.objects.exists()


# ---------------------------------------------------------------------------------------------
# Bodies


@both_apis
@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, 400, "malformed_request"),  # was 500 (DRF)
        ("\ufeff" + '{"items": [{"variant_id": 1, "quantity": 1}]}', 400, "malformed_request"),
        ('{"items": []}\x00', 400, "malformed_request"),
        (b'{"items": "\xff\xfe"}', 400, "malformed_request"),
        ('{"items": [{"variant_id": 1, "quantity": ' + "9" * 5000 + "}]}", 400, None),
        ('{"items": [{"variant_id": 1e400, "quantity": 1}]}', 400, "invalid_input"),
        ('{"items": [{"variant_id": -1, "quantity": 1}]}', 400, "invalid_input"),
        ('{"items": [{"variant_id": 9223372036854775807, "quantity": 1}]}', 400, "invalid_order"),
        ('{"items": [{"variant_id": 1, "quantity": NaN}]}', 400, None),
        ('{"items": [{"variant_id": 1, "quantity": Infinity}]}', 400, None),
        ('{"items": [{"variant_id": true, "quantity": 1}]}', 400, None),
        ('{"items": [{"variant_id": 1, "quantity": 1}], "items": 5}', 400, "invalid_input"),
        ('"items"', 400, "invalid_input"),
        ("{}", 400, "invalid_input"),
    ],
    ids=[
        "nested 100000 deep",
        "byte-order mark first",
        "trailing nul",
        "not utf-8",
        "5000-digit number",
        "1e400",
        "negative id",
        "largest bigint id",
        "NaN",
        "Infinity",
        "boolean id",
        "duplicate key",
        "a string",
        "no items",
    ],
)
def test_hostile_order_bodies_are_400_and_write_nothing(api, shelf, raw, status, code) -> None:
    variant, user = shelf

    answer = call(api, "post", "orders", user=user, raw=raw)

    assert_error(answer, status, code)
    assert_nothing_written(variant)


@both_apis
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "",
    ],
    ids=["text", "xml", "multipart", "form", "none"],
)
def test_a_body_that_is_not_json_is_a_4xx(api, shelf, content_type) -> None:
    variant, user = shelf
    body = json.dumps({"items": [{"variant_id": variant.pk, "quantity": 1}]})
    headers = {"Authorization": f"Token {token_for(user)}"}
    if api == SYNC:
        response = Client().post(api + "orders", body, content_type=content_type, headers=headers)
    else:
        response = async_to_sync(AsyncClient().post)(
            api + "orders", body, content_type=content_type, headers=headers
        )

    assert response.status_code in {400, 415}, (response.status_code, response.content)
    assert set(response.json()) == {"code", "message", "extra"}
    assert_nothing_written(variant)


@both_apis
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ada\x00", "password": "a-long-passphrase"}, "username"),  # was 500 (Ninja)
        ({"username": "ada", "password": "pass\x00word"}, "password"),
        ({"username": "a" * 151, "password": "x"}, "username"),
        ({"username": ["ada"], "password": "x"}, "username"),
    ],
    ids=["nul in username", "nul in password", "151 chars", "a list"],
)
def test_bad_credentials_are_400_naming_the_field(api, body, field) -> None:
    answer = call(api, "post", "auth/token", body=body)

    assert_invalid_fields(answer, field)


@both_apis
def test_an_oversized_login_is_413(api) -> None:
    answer = call(api, "post", "auth/token", body={"username": "ada", "password": "x" * 300_000})

    assert_error(answer, 413, "request_too_large")
