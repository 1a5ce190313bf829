"""Parity: the same request to the sync API (DRF) and the async API (Ninja) gets the same answer.

Same status, same JSON. The one allowed difference: the wording of per-field validation
messages (DRF's and Pydantic's), so for ``invalid_input`` the code, message and field paths must
match and the messages may differ.
"""

from __future__ import annotations

import pytest

from fashionistar.orders.models import Order
from tests.api_support import ASYNC, SYNC, Answer, call
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db(transaction=True)


def comparable(answer: Answer) -> tuple[int, object]:
    body = answer.body
    if isinstance(body, dict) and body.get("code") == "invalid_input":
        body = {**body, "extra": {"fields": sorted(body["extra"]["fields"])}}
    return answer.status, body


def assert_same(**kwargs) -> Answer:
    sync = call(SYNC, **kwargs)
    async_ = call(ASYNC, **kwargs)
    assert comparable(sync) == comparable(async_)
    return sync


@pytest.fixture
def shelf():
    return [
        make_product(name="Silk Dress", price="89.00", category="dresses", sizes=("S", "M", "L")),
        make_product(name="Linen Dress", price="59.99", category="dresses"),
        make_product(name="Wool Coat", price="240.50", category="coats", stock=0),
        make_product(name="Silk Scarf", price="19.90", category="accessories"),
        make_product(name="Boots", price="120.00", currency="USD", category="shoes"),
        make_product(name="Sneakers", price="75.00", currency="USD", category="shoes"),
    ]


LIST_QUERIES = [
    {},
    {"search": "silk"},
    {"search": "DRESS linen"},
    {"search": "nothing-matches"},
    {"search": "  silk  "},
    {"category": " shoes"},
    {"category": "shoes"},
    {"category": "unknown-category"},
    {"currency": "USD", "sort": "-price"},
    {"min_price": "59.99", "max_price": "120"},
    {"min_price": "0"},
    {"min_price": ""},
    {"sort": ""},
    {"sort": "newest"},
    {"sort": "price", "page_size": 2},
    {"sort": "price", "page_size": 2, "page": 3},
    {"sort": "-name", "page_size": 4, "page": 2},
    {"page": 4, "page_size": 2},
    {"page_size": 100},
    # errors
    {"sort": "popular"},
    {"currency": "JPY"},
    {"min_price": "10", "max_price": "1"},
    {"min_price": "cheap"},
    {"page": 0},
    {"page_size": 101},
    {"page": 9, "page_size": 2},
]


@pytest.mark.parametrize("query", LIST_QUERIES, ids=[str(q) for q in LIST_QUERIES])
def test_product_list(shelf, query) -> None:
    assert_same(method="get", path="catalog/products", query=query)


def test_product_detail(shelf) -> None:
    answer = assert_same(method="get", path=f"catalog/products/{shelf[0].slug}")
    assert answer.status == 200
    assert_same(method="get", path="catalog/products/missing")


def _strip(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in {"id", "created_at"}}


def test_order_placement(shelf) -> None:
    body = {
        "items": [
            {"variant_id": variant_of(shelf[0], 2).pk, "quantity": 2},
            {"variant_id": variant_of(shelf[1]).pk, "quantity": 1},
            {"variant_id": variant_of(shelf[0], 2).pk, "quantity": 1},
        ]
    }
    sync = call(SYNC, "post", "orders", user=make_user(), body=body)
    async_ = call(ASYNC, "post", "orders", user=make_user(), body=body)

    assert sync.status == async_.status == 201
    assert _strip(sync.body) == _strip(async_.body)
    assert sync.body["total"] == "326.99"
    assert Order.objects.count() == 2


@pytest.mark.parametrize(
    "body",
    [
        {"items": []},
        {"items": [{"variant_id": 1, "quantity": 0}]},
        {"items": [{"variant_id": 999999, "quantity": 1}]},
        {"items": [{"variant_id": "x", "quantity": "y"}]},
        {"items": [{}]},
        {"items": "all of them"},
        {"items": [{"variant_id": -1, "quantity": 1}]},
        "mixed",
        "out",
    ],
)
def test_order_placement_errors(shelf, body) -> None:
    if body == "mixed":  # two currencies
        body = {"items": [{"variant_id": variant_of(p).pk, "quantity": 1} for p in shelf[3:5]]}
    elif body == "out":  # no stock
        body = {"items": [{"variant_id": variant_of(shelf[2]).pk, "quantity": 1}]}
    user = make_user()

    answer = assert_same(method="post", path="orders", user=user, body=body)

    assert 400 <= answer.status < 500
    assert not Order.objects.exists()


def test_order_detail_list_and_cancel(shelf) -> None:
    user = make_user()
    body = {"items": [{"variant_id": variant_of(shelf[0]).pk, "quantity": 1}]}
    order_id = call(SYNC, "post", "orders", user=user, body=body).body["id"]
    call(ASYNC, "post", "orders", user=user, body=body)

    detail = assert_same(method="get", path=f"orders/{order_id}", user=user)
    assert detail.status == 200
    listing = assert_same(method="get", path="orders", user=user, query={"page_size": 1})
    assert listing.body["count"] == 2
    assert_same(method="get", path="orders", user=user, query={"page": 2, "page_size": 1})
    assert_same(method="get", path=f"orders/{order_id}", user=make_user())
    assert_same(method="get", path="orders/424242", user=user)

    cancelled = call(SYNC, "post", f"orders/{order_id}/cancel", user=user)
    again_sync = call(SYNC, "post", f"orders/{order_id}/cancel", user=user)
    again_async = call(ASYNC, "post", f"orders/{order_id}/cancel", user=user)
    assert cancelled.status == 200
    assert (again_sync.status, again_sync.body) == (again_async.status, again_async.body)
    assert again_sync.status == 409


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("get", "orders", {}),
        ("post", "orders", {"body": {"items": []}}),
        ("get", "orders", {"token": "forged"}),
        ("post", "orders", {"raw": "{oops", "auth": True}),
        ("post", "orders/1/pay", {"auth": True, "body": {"card_token": "t"}}),
        ("post", "orders/1/pay", {"auth": True, "raw": "[1]", "headers": {"Idempotency-Key": "k"}}),
        ("post", "auth/token", {"body": {"username": "nobody", "password": "x"}}),
        ("post", "auth/token", {"body": {}}),
        ("get", "orders/abc", {"auth": True}),
        ("get", "nowhere", {}),
    ],
)
def test_errors(method, path, kwargs) -> None:
    kwargs = dict(kwargs)
    if kwargs.pop("auth", False):
        kwargs["user"] = make_user()

    answer = assert_same(method=method, path=path, **kwargs)

    assert 400 <= answer.status < 500


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize(
    "authorization",
    ["Token forged", "Token", "Token two words", "token " + "0" * 40],
    ids=["unknown", "empty", "malformed", "lower-case scheme"],
)
def test_a_failed_token_is_refused_even_with_a_session(method, authorization) -> None:
    user = make_user()

    answer = assert_same(
        method=method,
        path="orders",
        session=user,
        headers={"Authorization": authorization},
        body={"items": []},
    )

    assert answer.status == 401, answer.body
    assert answer.body["code"] == "not_authenticated"


def test_the_session_answers_when_no_token_is_sent() -> None:
    answer = assert_same(method="get", path="orders", session=make_user())

    assert answer.status == 200


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("catalog/products", {}),
        ("catalog/products", {"query": {"category": "dresses"}}),
        ("orders", {"auth": True}),
        ("orders", {}),
        ("orders/1/cancel", {"auth": True}),
    ],
    ids=["list", "filtered", "own orders", "no user", "post only"],
)
def test_head_answers_as_get_without_a_body(shelf, path, kwargs) -> None:
    kwargs = dict(kwargs)
    if kwargs.pop("auth", False):
        kwargs["user"] = make_user()
    get = call(SYNC, "get", path, **kwargs)

    sync = call(SYNC, "head", path, **kwargs)
    async_ = call(ASYNC, "head", path, **kwargs)

    assert sync.status == async_.status
    assert sync.body is async_.body is None
    if get.status == 405:
        assert sync.status == 405
        assert "HEAD" not in async_.headers["Allow"]
    else:
        assert sync.status == get.status
        assert sync.headers.get("ETag") == async_.headers.get("ETag")


def test_tokens(shelf) -> None:
    user = make_user("parity")
    credentials = {"username": "parity", "password": "a-long-passphrase"}

    answer = assert_same(method="post", path="auth/token", body=credentials)

    assert answer.status == 200
    assert user.auth_token.key == answer.body["token"]


@pytest.mark.parametrize(
    "username", ["parity ", " parity", "   "], ids=["trailing space", "leading space", "blank"]
)
def test_a_username_is_trimmed_by_both(shelf, username) -> None:
    make_user("parity")

    answer = assert_same(
        method="post",
        path="auth/token",
        body={"username": username, "password": "a-long-passphrase"},
    )

    assert answer.status == (400 if username.isspace() else 200)


@pytest.mark.parametrize(
    "credentials",
    [
        {"username": 12345, "password": "a-long-passphrase"},
        {"username": "12345", "password": 12345678},
        {"username": ["12345"], "password": "a-long-passphrase"},
        {"username": True, "password": "a-long-passphrase"},
    ],
    ids=["number", "numeric password", "list", "boolean"],
)
def test_credentials_that_are_not_strings_are_invalid_input_in_both(credentials) -> None:
    make_user("12345", password="12345678")

    answer = assert_same(method="post", path="auth/token", body=credentials)

    assert answer.status == 400
    assert answer.body["code"] == "invalid_input"


def test_an_empty_body_is_invalid_input_in_both() -> None:
    # The one known difference in field paths: DRF validates {} and names the missing "items";
    # Ninja refuses the absent body as a whole ("body").
    sync = call(SYNC, "post", "orders", user=make_user(), raw="")
    async_ = call(ASYNC, "post", "orders", user=make_user(), raw="")

    assert (sync.status, sync.body["code"]) == (async_.status, async_.body["code"])
    assert sync.body["code"] == "invalid_input"
    assert list(sync.body["extra"]["fields"]) == ["items"]
    assert list(async_.body["extra"]["fields"]) == ["body"]
