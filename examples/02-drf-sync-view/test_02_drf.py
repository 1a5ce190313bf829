"""Exercise 02: a thin DRF view: the customer's own order, nested lines, a fixed query count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from rest_framework.authtoken.models import Token
from tests.factories import make_product, make_user, variant_of

from fashionistar.orders.services import OrderItem, order_place

PARTICIPANT_FILE = "order_api.py"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_redis", "urls")]


@pytest.fixture
def urls(participant, serve_urls) -> None:
    serve_urls([path("api/orders/<int:order_id>", participant.OrderDetailApi.as_view())])


def place(user, lines: int = 1):
    products = [make_product(name=f"Scarf {n}", price="20.00") for n in range(lines)]
    items = [OrderItem(variant_id=variant_of(product).pk, quantity=2) for product in products]
    return order_place(user=user, items=items)


def token_of(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def get(order_id: int, user=None, *, token: str | None = None):
    token = token or (token_of(user) if user is not None else None)
    headers = {"Authorization": f"Token {token}"} if token else {}
    return Client().get(f"/api/orders/{order_id}", headers=headers)


def test_the_owner_gets_the_order_with_its_lines() -> None:
    ada = make_user()
    order = place(ada)
    response = get(order.pk, ada)
    assert response.status_code == 200, f"the owner got {response.status_code}"
    body = response.json()
    assert (body["id"], body["status"], body["total"]) == (order.pk, "placed", "40.00")
    assert [(line["product_name"], line["quantity"]) for line in body["lines"]] == [("Scarf 0", 2)]


def test_another_customers_order_is_a_404() -> None:
    order = place(make_user())
    response = get(order.pk, make_user())
    assert response.status_code == 404, (
        f"another customer's order answered {response.status_code}; it must be a 404"
    )
    assert response.json()["code"] == "not_found"


def test_an_id_that_does_not_exist_is_a_404_too() -> None:
    response = get(2**31, make_user())
    assert response.status_code == 404, f"an unknown id answered {response.status_code}"
    assert response.json()["code"] == "not_found"


def test_without_a_token_it_is_a_401() -> None:
    order = place(make_user())
    response = get(order.pk)
    assert response.status_code == 401, f"an anonymous request answered {response.status_code}"
    assert response.json()["code"] == "not_authenticated"


def test_the_queries_do_not_grow_with_the_lines() -> None:
    ada = make_user()
    small, big, token = place(ada, lines=1), place(ada, lines=4), token_of(ada)
    counts = []
    for order in (small, big):
        with CaptureQueriesContext(connection) as queries:
            assert get(order.pk, token=token).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], (
        f"1 line took {counts[0]} queries, 4 lines {counts[1]}: prefetch the lines' variants"
    )
