"""Object-level authorisation and rate limits, on every endpoint of both APIs that has them.

The endpoints are found by walking Django's URL resolver, not listed by hand: every route with
an ``order_id`` is a detail or an action on one order, and every API route is throttled. A new
endpoint of either kind is covered the day it is added.
"""

from __future__ import annotations

import pytest
from django.test import Client

from fashionistar.inventory.models import Stock
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.payments.models import IdempotencyKey, Payment
from fashionistar_dev.partners import serve_in_thread
from tests.api_support import token_for
from tests.factories import make_product, make_user, variant_of
from tests.security.support import PUBLIC, ROUTES, sample_url

pytestmark = pytest.mark.django_db(transaction=True)

ORDER_ROUTES = [route for route in ROUTES if "<int:order_id>" in route]
API_ROUTES = [
    route
    for route in ROUTES
    if route.startswith("api/") and not route.endswith(("schema", "docs", "openapi.json", "/"))
]
PAY_REQUEST = {"card_token": "tok_visa"}
LOGIN = {"username": "nobody", "password": "wrong"}


def send(method: str, url: str, user=None, key: str = "key-1", ip: str = "127.0.0.1"):
    headers = {"Idempotency-Key": key}
    if user is not None:
        headers["Authorization"] = f"Token {token_for(user)}"
    client = Client(REMOTE_ADDR=ip)
    if method == "GET":
        return client.get(url, {"country": "FR"}, headers=headers)
    body = LOGIN if url.endswith("auth/token") else PAY_REQUEST
    return client.post(url, body, content_type="application/json", headers=headers)


def order_url(route: str, order_id: int) -> str:
    return "/" + route.replace("<int:order_id>", str(order_id))


def test_the_walk_finds_every_order_endpoint_of_both_apis() -> None:
    suffixes = {route.split("<int:order_id>")[1] for route in ORDER_ROUTES}
    assert suffixes == {"", "/cancel", "/pay", "/checkout"}
    assert {route.split("/")[1] for route in ORDER_ROUTES} == {"sync", "async"}


@pytest.mark.parametrize("route", ORDER_ROUTES)
def test_nobody_reads_or_changes_another_users_order(route, settings) -> None:
    alice, bob = make_user(), make_user()
    variant = variant_of(make_product(stock=5))
    owner_body = f'{{"items": [{{"variant_id": {variant.pk}, "quantity": 2}}]}}'
    created = Client().post(
        "/api/sync/orders",
        owner_body,
        content_type="application/json",
        headers={"Authorization": f"Token {token_for(alice)}"},
    )
    order_id = created.json()["id"]

    with serve_in_thread() as gateway:
        settings.PAYMENT_GATEWAY_URL = gateway.url
        tried = []
        for method in ("GET", "POST"):
            answer = send(method, order_url(route, order_id), user=bob)
            if answer.status_code == 405:
                continue  # no such method on this route
            tried.append(method)

            assert answer.status_code == 404, (method, route, answer.content)
            assert answer.json()["code"] == "not_found"
            assert Order.objects.get(pk=order_id).status == OrderStatus.PLACED
            assert not Payment.objects.exists()
            assert Stock.objects.get(variant=variant).quantity == 3
        # The same requests by the owner reach the order: the 404s above were about ownership.
        owner_statuses = [
            send(m, order_url(route, order_id), user=alice).status_code for m in tried
        ]
    assert tried, route
    assert 404 not in owner_statuses, (route, owner_statuses)


def test_a_key_of_another_user_replays_nothing_of_theirs(settings) -> None:
    alice, bob = make_user(), make_user()
    variant = variant_of(make_product(stock=5))
    orders = {}
    for user in (alice, bob):
        body = f'{{"items": [{{"variant_id": {variant.pk}, "quantity": 1}}]}}'
        headers = {"Authorization": f"Token {token_for(user)}"}
        response = Client().post("/api/sync/orders", body, "application/json", headers=headers)
        orders[user.pk] = response.json()["id"]

    with serve_in_thread() as gateway:
        settings.PAYMENT_GATEWAY_URL = gateway.url
        paid = send("POST", f"/api/sync/orders/{orders[alice.pk]}/pay", user=alice, key="same")
        other = send("POST", f"/api/async/orders/{orders[bob.pk]}/pay", user=bob, key="same")

    assert (paid.status_code, other.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in other.headers
    assert other.json()["order_id"] == orders[bob.pk]
    assert IdempotencyKey.objects.filter(key="same").count() == 2


def make_staff():
    user = make_user()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.mark.usefixtures("fresh_throttles")
@pytest.mark.parametrize("route", API_ROUTES)
def test_every_api_endpoint_answers_429_with_retry_after(route, settings) -> None:
    settings.API_THROTTLE_RATES = {"anon": "2/minute", "user": "2/minute"}
    staff_only = route.startswith("api/sync/ops/")  # permissions come before throttles
    user = None if route in PUBLIC else make_staff() if staff_only else make_user()
    method = "POST" if route.endswith(("auth/token", "/cancel", "/pay", "echo-task")) else "GET"
    if route.endswith("orders"):
        method = "GET"
    url = sample_url(route)

    statuses = [send(method, url, user=user, key=f"k{i}").status_code for i in range(2)]
    over = send(method, url, user=user, key="k3")

    assert 429 not in statuses, (route, statuses)
    assert over.status_code == 429, (route, over.status_code, over.content)
    assert over.json()["code"] == "throttled"
    wait = int(over.headers["Retry-After"])
    assert 1 <= wait <= 60
    assert over.json()["extra"] == {"retry_after": wait}
    # Another client (another user, or another address) still has its own budget.
    if user is None:
        assert send(method, url, ip="127.0.0.2").status_code != 429
    else:
        other = make_staff() if staff_only else make_user()
        assert send(method, url, user=other).status_code != 429
