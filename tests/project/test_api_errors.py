"""Bad input never gets a 500: table-driven across both APIs, one error shape for every 4xx."""

from __future__ import annotations

import json

import psycopg
import pytest
from django import db

from fashionistar.inventory.models import Stock
from fashionistar.orders.models import Order
from tests.api_support import ASYNC, SYNC, assert_error, both_apis, call
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db(transaction=True)

BIG = 2**63
V = "{variant}"  # replaced by a real variant id


def items(variant_id: object = V, quantity: object = 1) -> dict[str, object]:
    return {"items": [{"variant_id": variant_id, "quantity": quantity}]}


# (id, method, path, request kwargs, status, code)
CASES = [
    (
        "unknown sort",
        "get",
        "catalog/products",
        {"query": {"sort": "cheapest"}},
        400,
        "invalid_input",
    ),
    (
        "unknown currency",
        "get",
        "catalog/products",
        {"query": {"currency": "XYZ"}},
        400,
        "invalid_input",
    ),
    (
        "empty price range",
        "get",
        "catalog/products",
        {"query": {"min_price": "50", "max_price": "10"}},
        400,
        "invalid_query",
    ),
    (
        "price not a number",
        "get",
        "catalog/products",
        {"query": {"min_price": "abc"}},
        400,
        "invalid_input",
    ),
    ("price NaN", "get", "catalog/products", {"query": {"max_price": "NaN"}}, 400, "invalid_input"),
    (
        "price infinite",
        "get",
        "catalog/products",
        {"query": {"max_price": "Infinity"}},
        400,
        "invalid_input",
    ),
    (
        "price negative",
        "get",
        "catalog/products",
        {"query": {"min_price": "-1"}},
        400,
        "invalid_input",
    ),
    (
        "price 3 decimals",
        "get",
        "catalog/products",
        {"query": {"min_price": "1.234"}},
        400,
        "invalid_input",
    ),
    ("page zero", "get", "catalog/products", {"query": {"page": 0}}, 400, "invalid_input"),
    (
        "page not a number",
        "get",
        "catalog/products",
        {"query": {"page": "two"}},
        400,
        "invalid_input",
    ),
    ("page huge", "get", "catalog/products", {"query": {"page": 10**20}}, 404, "not_found"),
    (
        "page size zero",
        "get",
        "catalog/products",
        {"query": {"page_size": 0}},
        400,
        "invalid_input",
    ),
    (
        "page size over 100",
        "get",
        "catalog/products",
        {"query": {"page_size": 101}},
        400,
        "invalid_input",
    ),
    (
        "search too long",
        "get",
        "catalog/products",
        {"query": {"search": "x" * 201}},
        400,
        "invalid_input",
    ),
    ("unknown slug", "get", "catalog/products/nope", {}, 404, "not_found"),
    (
        "malformed json",
        "post",
        "orders",
        {"raw": '{"items": [', "auth": True},
        400,
        "malformed_request",
    ),
    ("not an object", "post", "orders", {"body": [1, 2], "auth": True}, 400, "invalid_input"),
    ("null body", "post", "orders", {"raw": "null", "auth": True}, 400, "invalid_input"),
    ("empty body", "post", "orders", {"raw": "", "auth": True}, 400, "invalid_input"),
    (
        "items not a list",
        "post",
        "orders",
        {"body": {"items": "x"}, "auth": True},
        400,
        "invalid_input",
    ),
    (
        "item not an object",
        "post",
        "orders",
        {"body": {"items": [5]}, "auth": True},
        400,
        "invalid_input",
    ),
    (
        "variant id a word",
        "post",
        "orders",
        {"body": items("abc"), "auth": True},
        400,
        "invalid_input",
    ),
    (
        "variant id missing",
        "post",
        "orders",
        {"body": {"items": [{"quantity": 1}]}, "auth": True},
        400,
        "invalid_input",
    ),
    ("variant id zero", "post", "orders", {"body": items(0), "auth": True}, 400, "invalid_input"),
    (
        "variant id past bigint",
        "post",
        "orders",
        {"body": items(BIG), "auth": True},
        400,
        "invalid_input",
    ),
    (
        "variant unknown",
        "post",
        "orders",
        {"body": items(999999), "auth": True},
        400,
        "invalid_order",
    ),
    (
        "quantity missing",
        "post",
        "orders",
        {"body": {"items": [{"variant_id": V}]}, "auth": True},
        400,
        "invalid_input",
    ),
    (
        "quantity a word",
        "post",
        "orders",
        {"body": items(quantity="two"), "auth": True},
        400,
        "invalid_input",
    ),
    (
        "quantity fractional",
        "post",
        "orders",
        {"body": items(quantity=1.5), "auth": True},
        400,
        "invalid_input",
    ),
    (
        "quantity zero",
        "post",
        "orders",
        {"body": items(quantity=0), "auth": True},
        400,
        "invalid_input",
    ),
    (
        "quantity negative",
        "post",
        "orders",
        {"body": items(quantity=-3), "auth": True},
        400,
        "invalid_input",
    ),
    (
        "quantity over 100",
        "post",
        "orders",
        {"body": items(quantity=101), "auth": True},
        400,
        "invalid_input",
    ),
    (
        "quantity huge",
        "post",
        "orders",
        {"body": items(quantity=10**30), "auth": True},
        400,
        "invalid_input",
    ),
    ("no items", "post", "orders", {"body": {"items": []}, "auth": True}, 400, "invalid_input"),
    (
        "too many items",
        "post",
        "orders",
        {"body": {"items": [{"variant_id": V, "quantity": 1}] * 51}, "auth": True},
        400,
        "invalid_input",
    ),
    (
        "body too large",
        "post",
        "orders",
        {"raw": json.dumps({"pad": "x" * 300_000}), "auth": True},
        413,
        "request_too_large",
    ),
    ("order unknown", "get", "orders/999999", {"auth": True}, 404, "not_found"),
    ("order id past bigint", "get", f"orders/{BIG * 10}", {"auth": True}, 404, "not_found"),
    ("order id a word", "get", "orders/abc", {"auth": True}, 404, "not_found"),
    ("cancel unknown", "post", "orders/999999/cancel", {"auth": True}, 404, "not_found"),
    (
        "pay unknown",
        "post",
        "orders/999999/pay",
        {"auth": True, "body": {"card_token": "t"}, "headers": {"Idempotency-Key": "k"}},
        404,
        "not_found",
    ),
    (
        "pay body too large",
        "post",
        "orders/1/pay",
        {"auth": True, "raw": json.dumps({"card_token": "x" * 300_000})},
        413,
        "request_too_large",
    ),
    ("unknown path", "get", "no/such/endpoint", {}, 404, "not_found"),
    ("not authenticated", "get", "orders", {}, 401, "not_authenticated"),
    ("bad token", "post", "orders", {"token": "forged", "body": items()}, 401, "not_authenticated"),
    (
        "token without password",
        "post",
        "auth/token",
        {"body": {"username": "u"}},
        400,
        "invalid_input",
    ),
    (
        "token password too long",
        "post",
        "auth/token",
        {"body": {"username": "u", "password": "x" * 129}},
        400,
        "invalid_input",
    ),
]


def _fill(value: object, variant_id: int) -> object:
    if value == V:
        return variant_id
    if isinstance(value, dict):
        return {k: _fill(v, variant_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, variant_id) for v in value]
    return value


def send(api: str, case_kwargs: dict, variant_id: int, user):
    kwargs = {k: _fill(v, variant_id) for k, v in case_kwargs.items() if k != "auth"}
    if case_kwargs.get("auth"):
        kwargs["user"] = user
    return kwargs


@both_apis
@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_a_4xx_in_the_error_shape(api, method, path, kwargs, status, code) -> None:
    variant = variant_of(make_product(stock=5))
    user = make_user()

    answer = call(api, method, path, **send(api, kwargs, variant.pk, user))

    assert_error(answer, status, code)
    assert not Order.objects.exists()
    assert Stock.objects.get(variant=variant).quantity == 5


@both_apis
def test_invalid_input_names_the_fields(api) -> None:
    user = make_user()
    body = {"items": [{"variant_id": "abc", "quantity": 1}, {"quantity": 2}]}

    answer = call(api, "post", "orders", user=user, body=body)

    assert_error(answer, 400, "invalid_input")
    fields = answer.body["extra"]["fields"]
    assert sorted(fields) == ["items.0.variant_id", "items.1.variant_id"]
    assert all(isinstance(m, str) for messages in fields.values() for m in messages)


@both_apis
def test_a_domain_error_keeps_its_code_and_extra(api) -> None:
    answer = call(api, "post", "orders", user=make_user(), body=items(999999, 1))

    assert answer.body == {
        "code": "invalid_order",
        "message": "Unknown variants.",
        "extra": {"variant_ids": [999999]},
    }


def test_form_data_is_refused_in_both(client) -> None:
    user = make_user()
    for api in (SYNC, ASYNC):
        client.force_login(user)
        response = client.post(api + "orders", {"items": "1"})
        assert response.status_code in {400, 415}, (api, response.content)
        assert set(response.json()) == {"code", "message", "extra"}


@both_apis
def test_an_unexpected_error_is_a_logged_500_in_the_same_shape(api, monkeypatch, caplog) -> None:
    def broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(
        f"fashionistar.catalog.apis.{'drf' if api == SYNC else 'ninja'}.product_list", broken
    )

    answer = call(api, "get", "catalog/products")

    assert_error(answer, 500, "server_error")
    assert answer.body["message"] == "Internal server error."
    assert "a bug" not in json.dumps(answer.body)
    record = next(r for r in caplog.records if r.name == "fashionistar.project.api")
    assert record.exc_info is not None


@both_apis
def test_a_wrong_method_is_405_in_the_error_shape(api) -> None:
    answer = call(api, "delete", "catalog/products")

    assert_error(answer, 405, "method_not_allowed")
    assert {"GET", "HEAD"} <= {m.strip() for m in answer.headers["Allow"].split(",")}


def _mapper_cases():
    from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
    from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
    from django.http import Http404
    from ninja.errors import AuthenticationError, HttpError
    from rest_framework import exceptions as drf

    ninja_cases = [
        (HttpError(403, "no"), 403, "permission_denied"),
        (HttpError(405, "no"), 405, "method_not_allowed"),
        (HttpError(429, "slow down"), 429, "throttled"),
        (HttpError(418, "teapot"), 418, "invalid"),
        (AuthenticationError(), 401, "not_authenticated"),
        (Http404(), 404, "not_found"),
        (RequestDataTooBig(), 413, "request_too_large"),
        (DjangoPermissionDenied(), 403, "permission_denied"),
        (SuspiciousOperation("odd"), 400, "invalid"),
        (KeyError("bug"), 500, "server_error"),
    ]
    drf_cases = [
        (drf.PermissionDenied(), 403, "permission_denied"),
        (drf.PermissionDenied("CSRF Failed: no token"), 403, "permission_denied"),
        (drf.NotFound(), 404, "not_found"),
        (drf.MethodNotAllowed("PUT"), 405, "method_not_allowed"),
        (drf.UnsupportedMediaType("text/plain"), 415, "unsupported_media_type"),
        (drf.Throttled(wait=2.4), 429, "throttled"),
        (drf.NotAcceptable(), 406, "not_acceptable"),
        (drf.ValidationError(["whole body wrong"]), 400, "invalid_input"),
        (drf.ValidationError({"items": [{"quantity": ["bad"]}, {}]}), 400, "invalid_input"),
        (RequestDataTooBig(), 413, "request_too_large"),
        (SuspiciousOperation("odd"), 400, "invalid"),
    ]
    return ninja_cases, drf_cases


def test_the_mappers_translate_framework_errors(caplog) -> None:
    from fashionistar.project.api import drf_exception_handler, ninja_to_error

    ninja_cases, drf_cases = _mapper_cases()
    for exc, status, code in ninja_cases:
        error = ninja_to_error(exc)
        assert (error.status_code, error.code) == (status, code), exc
    for exc, status, code in drf_cases:
        response = drf_exception_handler(exc, {})
        assert response is not None
        assert (response.status_code, response.data["code"]) == (status, code), exc
        assert set(response.data) == {"code", "message", "extra"}


def database_error(wrapper: type[Exception], driver_error: Exception) -> Exception:
    """Django's wrapper of a psycopg error, as ``wrap_database_errors`` chains it."""
    error = wrapper(*driver_error.args)
    error.__cause__ = driver_error
    return error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (database_error(db.OperationalError, psycopg.OperationalError("refused")), 503),
        (database_error(db.InterfaceError, psycopg.InterfaceError("closed")), 503),
        # the connection cut in the middle of a COMMIT's reply: psycopg's own error, no SQLSTATE
        (database_error(db.InternalError, psycopg.InternalError("received 2 results")), 503),
        (database_error(db.InternalError, psycopg.errors.DataCorrupted("corrupted")), 500),
        (database_error(db.IntegrityError, psycopg.errors.UniqueViolation("dup")), 500),
    ],
)
def test_a_lost_connection_is_a_503_and_a_failing_statement_a_500(error, status) -> None:
    from fashionistar.project.api import drf_exception_handler, ninja_to_error

    assert ninja_to_error(error).status_code == status
    response = drf_exception_handler(error, {})
    assert response is not None
    assert response.status_code == status


def test_drf_field_paths_are_dotted() -> None:
    from rest_framework import exceptions as drf

    from fashionistar.project.api import drf_exception_handler

    exc = drf.ValidationError({"items": [{"quantity": ["bad"]}, {}], "non_field_errors": ["x"]})
    response = drf_exception_handler(exc, {})

    assert response is not None
    assert response.data["extra"]["fields"] == {"items.0.quantity": ["bad"], "body": ["x"]}


def test_drf_in_debug_leaves_a_bug_to_djangos_debug_page(settings) -> None:
    from fashionistar.project.api import drf_exception_handler

    settings.DEBUG = True

    assert drf_exception_handler(KeyError("bug"), {}) is None


def test_helpers() -> None:
    from django.test import RequestFactory

    from fashionistar.kernel.apis import client_ip, parse_rate, window_wait

    assert parse_rate("10/minute") == (10, 60)
    assert parse_rate("5/s") == (5, 1)
    with pytest.raises(ValueError, match="throttle rate"):
        parse_rate("5/fortnight")
    assert window_wait(60, now=120.5) == 60
    assert window_wait(60, now=179.2) == 1
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="not-an-ip")) is None


def test_the_async_throttle_lets_requests_through_when_redis_is_down(settings, caplog) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.API_THROTTLE_RATES = {"anon": "1/minute", "user": "1/minute"}

    answers = [call(ASYNC, "get", "catalog/products/nope") for _ in range(2)]

    assert [a.status for a in answers] == [404, 404]
    assert "Throttle skipped" in caplog.text
