"""Order endpoints, in both APIs: auth, place, list, detail, cancel."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from fashionistar.inventory.models import Reservation
from fashionistar.kernel.apis import ID_SCHEMA, IDEMPOTENCY_KEY_SCHEMA
from fashionistar.orders.models import Order, OrderLine, OrderStatus
from fashionistar.payments.models import Payment
from tests.api_support import (
    ASYNC,
    assert_error,
    assert_invalid_fields,
    body_schema,
    both_apis,
    call,
    operation,
    parameter,
    place,
    resolved,
    stock_of,
    token_for,
)
from tests.factories import make_product, variant_of

pytestmark = pytest.mark.django_db(transaction=True)


@both_apis
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "orders"),
        ("post", "orders"),
        ("get", "orders/1"),
        ("post", "orders/1/cancel"),
        ("post", "orders/1/pay"),
    ],
)
def test_orders_need_authentication(api, method, path) -> None:
    answer = call(api, method, path)

    assert_error(answer, 401, "not_authenticated")
    assert answer.headers["WWW-Authenticate"] == "Token"


@both_apis
def test_a_bad_token_is_401(api) -> None:
    assert_error(call(api, "get", "orders", token="not-a-token"), 401, "not_authenticated")


@both_apis
def test_an_inactive_users_token_is_401(api, alice) -> None:
    token = token_for(alice)
    alice.is_active = False
    alice.save()

    assert_error(call(api, "get", "orders", token=token), 401, "not_authenticated")


@both_apis
def test_placing_an_order_writes_it_and_takes_the_stock(api, alice, dress) -> None:
    answer = place(api, alice, dress, quantity=2)

    assert answer.status == 201, answer.body
    order = Order.objects.get()
    assert order.user == alice
    assert answer.body == {
        "id": order.pk,
        "status": "placed",
        "currency": "EUR",
        "total": "178.00",
        "created_at": answer.body["created_at"],
        "lines": [
            {
                "variant_id": variant_of(dress).pk,
                "sku": variant_of(dress).sku,
                "product_name": "Dress",
                "quantity": 2,
                "unit_price": "89.00",
                "line_total": "178.00",
            }
        ],
        "payments": [],
    }
    assert answer.body["created_at"].endswith("Z")
    assert OrderLine.objects.get().quantity == 2
    assert stock_of(dress) == 3
    assert Reservation.objects.get().quantity == 2


@both_apis
def test_a_retry_with_the_same_idempotency_key_gets_the_same_order(api, alice, dress) -> None:
    key = {"headers": {"Idempotency-Key": "order-7"}}
    first = place(api, alice, dress, **key)
    again = place(api, alice, dress, **key)
    other_items = place(api, alice, dress, quantity=1, **key)

    assert (first.status, again.status) == (201, 201), (first.body, again.body)
    assert again.body == first.body
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert_error(other_items, 422, "idempotency_key_reused")
    assert Order.objects.count() == 1
    assert stock_of(dress) == 3  # taken once


@both_apis
def test_a_malformed_idempotency_key_is_400_and_places_nothing(api, alice, dress) -> None:
    answer = place(api, alice, dress, headers={"Idempotency-Key": "x" * 256})

    assert_error(answer, 400, "idempotency_key_invalid")
    assert not Order.objects.exists()


@both_apis
def test_a_session_works_as_well_as_a_token(api, alice, dress) -> None:
    body = {"items": [{"variant_id": variant_of(dress).pk, "quantity": 1}]}

    answer = call(api, "post", "orders", session=alice, body=body)

    assert answer.status == 201, answer.body
    assert Order.objects.get().user == alice


@both_apis
def test_a_session_without_a_csrf_token_is_refused(api, alice, dress) -> None:
    body = {"items": [{"variant_id": variant_of(dress).pk, "quantity": 1}]}

    answer = call(api, "post", "orders", session=alice, body=body, enforce_csrf=True)

    assert_error(answer, 403, "permission_denied")
    assert not Order.objects.exists()


@both_apis
@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "application/x-www-form-urlencoded; charset=latin-1"],
    ids=["multipart without a boundary", "a form in latin-1"],
)
def test_a_session_sending_a_form_is_refused(api, alice, content_type) -> None:
    """With a CSRF cookie, Django's check looks for the token in the form: the async API does not
    parse it (403 without the header's token); DRF's parsers refuse it (415)."""
    client = (AsyncClient if api == ASYNC else Client)(enforce_csrf_checks=True)
    client.force_login(alice)
    client.cookies[settings.CSRF_COOKIE_NAME] = "c" * 32
    send = async_to_sync(client.post) if api == ASYNC else client.post
    response = send(api + "orders", data="items=1", content_type=content_type)

    assert (response.status_code, response.json()["code"]) in {
        (403, "permission_denied"),
        (415, "unsupported_media_type"),
    }, response.content
    assert not Order.objects.exists()


@both_apis
def test_out_of_stock_is_409_and_writes_nothing(api, alice, dress) -> None:
    answer = place(api, alice, dress, quantity=6)

    assert_error(answer, 409, "out_of_stock")
    assert answer.body["extra"] == {"available": {str(variant_of(dress).pk): 5}}
    assert not Order.objects.exists()
    assert stock_of(dress) == 5


@both_apis
def test_the_list_shows_only_my_orders_newest_first_in_pages(api, alice, bob, dress) -> None:
    mine = [place(api, alice, dress, quantity=1).body["id"] for _ in range(3)]
    place(api, bob, dress, quantity=1)

    first = call(api, "get", "orders", user=alice, query={"page_size": 2})
    second = call(api, "get", "orders", user=alice, query={"page_size": 2, "page": 2})

    assert first.status == 200
    assert first.body["count"] == 3
    assert [o["id"] for o in first.body["results"]] == [mine[2], mine[1]]
    assert [o["id"] for o in second.body["results"]] == [mine[0]]
    assert first.body["results"][0]["lines"][0]["quantity"] == 1


@both_apis
def test_a_page_of_orders_costs_the_same_queries_whatever_its_length(api, alice, dress) -> None:
    def queries_to_list() -> int:
        with CaptureQueriesContext(connection) as ran:
            assert call(api, "get", "orders", user=alice).status == 200
        return len(ran)

    place(api, alice, dress, quantity=1)
    one = queries_to_list()
    for _ in range(4):
        place(api, alice, dress, quantity=1)
    assert queries_to_list() == one  # lines, their variants and products, payments: prefetched


@both_apis
def test_the_placed_orders_answer_is_what_the_detail_shows_without_reading_it_back(
    api, alice, monkeypatch
) -> None:
    shoes = make_product(name="Shoes", price="120.00", stock=4, sizes=("40", "41", "42"))
    sizes = list(shoes.variants.order_by("pk"))
    items = [
        {"variant_id": sizes[2].pk, "quantity": 1},
        {"variant_id": sizes[0].pk, "quantity": 2},
        {"variant_id": sizes[2].pk, "quantity": 1},
    ]
    statements: list[str] = []  # from every thread: Ninja runs the service in a worker thread
    execute = CursorWrapper._execute

    def recorded(self, sql, *args):
        statements.append(sql)
        return execute(self, sql, *args)

    with monkeypatch.context() as patch:
        patch.setattr(CursorWrapper, "_execute", recorded)
        placed = call(api, "post", "orders", user=alice, body={"items": items})

    assert placed.status == 201, placed.body
    assert [sql for sql in statements if sql.startswith("SELECT") and "orderline" in sql] == []
    detail = call(api, "get", f"orders/{placed.body['id']}", user=alice)
    assert placed.body == detail.body
    assert [line["quantity"] for line in placed.body["lines"]] == [2, 2]


@both_apis
def test_the_detail_shows_my_order(api, alice, dress) -> None:
    order_id = place(api, alice, dress).body["id"]

    answer = call(api, "get", f"orders/{order_id}", user=alice)

    assert answer.status == 200
    assert answer.body["id"] == order_id
    assert answer.body["total"] == "178.00"


@both_apis
@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("post", "/cancel"), ("post", "/pay")])
def test_another_users_order_is_404(api, alice, bob, dress, method, suffix) -> None:
    order_id = place(api, alice, dress).body["id"]

    answer = call(
        api,
        method,
        f"orders/{order_id}{suffix}",
        user=bob,
        body={"card_token": "tok_visa"},
        headers={"Idempotency-Key": "k1"},
    )

    assert_error(answer, 404, "not_found")
    order = Order.objects.get(pk=order_id)
    assert order.status == OrderStatus.PLACED
    assert not Payment.objects.exists()


@both_apis
def test_an_unknown_order_is_404(api, alice) -> None:
    answer = call(api, "get", "orders/999999", user=alice)

    assert_error(answer, 404, "not_found")
    assert answer.body["extra"] == {"order_id": 999999}


@both_apis
def test_cancelling_gives_the_stock_back_once(api, alice, dress) -> None:
    order_id = place(api, alice, dress, quantity=2).body["id"]

    answer = call(api, "post", f"orders/{order_id}/cancel", user=alice)
    again = call(api, "post", f"orders/{order_id}/cancel", user=alice)

    assert answer.status == 200
    assert answer.body["status"] == "cancelled"
    assert answer.body["lines"][0]["quantity"] == 2
    assert Order.objects.get().status == OrderStatus.CANCELLED
    assert stock_of(dress) == 5
    assert_error(again, 409, "invalid_transition")
    assert stock_of(dress) == 5


@both_apis
@pytest.mark.parametrize(
    ("quantities", "field"),
    [([0], "items.0.quantity"), ([1, 101], "items.1.quantity"), ([], "items"), ([1] * 51, "items")],
    ids=["zero units", "over 100 units", "no items", "51 items"],
)
def test_an_order_outside_the_schema_is_invalid_input_and_places_nothing(
    api, alice, dress, quantities, field
) -> None:
    items = [{"variant_id": variant_of(dress).pk, "quantity": q} for q in quantities]

    answer = call(api, "post", "orders", user=alice, body={"items": items})

    assert_invalid_fields(answer, field)
    assert not Order.objects.exists()
    assert stock_of(dress) == 5


@both_apis
def test_the_schemas_state_the_order_rules(api) -> None:
    placing = operation(api, "post", "orders")
    items = body_schema(api, placing)["properties"]["items"]
    item = resolved(api, items["items"])["properties"]

    assert (items["minItems"], items["maxItems"]) == (1, 50)
    assert (item["quantity"]["minimum"], item["quantity"]["maximum"]) == (1, 100)
    assert item["variant_id"]["minimum"] == 1
    assert parameter(placing, "Idempotency-Key") == IDEMPOTENCY_KEY_SCHEMA
    for method, path in (("get", "orders/{order_id}"), ("post", "orders/{order_id}/cancel")):
        order_id = parameter(operation(api, method, path), "order_id")
        assert order_id["minimum"] == ID_SCHEMA["minimum"] == 1, path
        assert order_id["maximum"] == ID_SCHEMA["maximum"] == 2**63 - 1, path


@both_apis
@pytest.mark.parametrize("order_id", [0, 2**63])
def test_an_order_id_outside_the_schema_is_404_as_an_unknown_one(api, alice, order_id) -> None:
    assert_error(call(api, "get", f"orders/{order_id}", user=alice), 404, "not_found")
