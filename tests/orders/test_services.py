"""Orders: pricing, the status machine, and concurrency through PgBouncer with real threads."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from fashionistar.inventory.models import Stock
from fashionistar.inventory.services import OutOfStock
from fashionistar.kernel.errors import NotFound
from fashionistar.kernel.idempotency import IdempotencyKeyInvalid, IdempotencyKeyReused
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.orders.selectors import order_get, order_list
from fashionistar.orders.services import (
    InvalidOrder,
    InvalidTransition,
    OrderItem,
    order_cancel,
    order_mark_paid,
    order_place,
    order_place_once,
    order_ship,
)
from tests.concurrency import run_concurrently
from tests.factories import make_product, make_user, variant_of


@pytest.mark.django_db
def test_order_is_priced_by_the_catalog_and_takes_stock() -> None:
    user = make_user()
    dress = make_product(price="89.00", stock=5, sizes=("S", "M"))
    small, medium = variant_of(dress, 0), variant_of(dress, 1)
    order = order_place(
        user=user,
        items=[
            OrderItem(variant_id=small.pk, quantity=2),
            OrderItem(variant_id=medium.pk, quantity=1),
            OrderItem(variant_id=small.pk, quantity=1),
        ],
    )
    assert order.total == Decimal("356.00")
    assert order.currency == "EUR"
    assert order.status == OrderStatus.PLACED
    lines = {line.variant_id: (line.quantity, line.line_total) for line in order.lines.all()}
    assert lines == {
        small.pk: (3, Decimal("267.00")),
        medium.pk: (1, Decimal("89.00")),
    }
    assert Stock.objects.get(variant=small).quantity == 2
    assert order_get(order_id=order.pk, user=user) == order


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([], "at least one item"),
        ([OrderItem(variant_id=1, quantity=0)], "between 1 and 100"),
        ([OrderItem(variant_id=1, quantity=-3)], "between 1 and 100"),
        ([OrderItem(variant_id=1, quantity=101)], "between 1 and 100"),
        ([OrderItem(variant_id=i, quantity=1) for i in range(51)], "at most 50"),
        ([OrderItem(variant_id=999_999, quantity=1)], "Unknown variants"),
    ],
)
def test_bad_orders_are_refused_and_write_nothing(items: list[OrderItem], message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        order_place(user=make_user(), items=items)
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_total_the_order_cannot_store_is_refused_and_writes_nothing() -> None:
    dear = [variant_of(make_product(price="99999999.99", stock=100)) for _ in range(2)]
    items = [OrderItem(variant_id=variant.pk, quantity=100) for variant in dear]
    with pytest.raises(InvalidOrder, match="total is too large"):
        order_place(user=make_user(), items=items)
    assert not Order.objects.exists()
    assert [Stock.objects.get(variant=variant).quantity for variant in dear] == [100, 100]


@pytest.mark.django_db
def test_mixed_currencies_are_refused() -> None:
    euro, dollar = (
        variant_of(make_product(currency="EUR")),
        variant_of(make_product(currency="USD")),
    )
    items = [OrderItem(variant_id=euro.pk, quantity=1), OrderItem(variant_id=dollar.pk, quantity=1)]
    with pytest.raises(InvalidOrder, match="one currency"):
        order_place(user=make_user(), items=items)


@pytest.mark.django_db
def test_out_of_stock_rolls_back_the_whole_order() -> None:
    variant = variant_of(make_product(stock=1))
    with pytest.raises(OutOfStock):
        order_place(user=make_user(), items=[OrderItem(variant_id=variant.pk, quantity=2)])
    assert not Order.objects.exists()
    assert Stock.objects.get(variant=variant).quantity == 1


@pytest.mark.django_db
def test_status_machine_and_cancel_releases_stock() -> None:
    user = make_user()
    variant = variant_of(make_product(stock=4))
    order = order_place(user=user, items=[OrderItem(variant_id=variant.pk, quantity=3)])
    assert order_cancel(order_id=order.pk, user=user).status == OrderStatus.CANCELLED
    assert Stock.objects.get(variant=variant).quantity == 4
    with pytest.raises(InvalidTransition, match="cancelled cannot become cancelled"):
        order_cancel(order_id=order.pk, user=user)

    paid = order_place(user=user, items=[OrderItem(variant_id=variant.pk, quantity=1)])
    with pytest.raises(InvalidTransition):
        order_ship(order_id=paid.pk)
    order_mark_paid(order_id=paid.pk)
    assert order_ship(order_id=paid.pk).status == OrderStatus.SHIPPED
    with pytest.raises(InvalidTransition):
        order_cancel(order_id=paid.pk, user=user)


@pytest.mark.django_db
def test_nobody_sees_or_cancels_another_users_order() -> None:
    owner, stranger = make_user(), make_user()
    variant = variant_of(make_product(stock=2))
    order = order_place(user=owner, items=[OrderItem(variant_id=variant.pk, quantity=1)])
    with pytest.raises(NotFound):
        order_get(order_id=order.pk, user=stranger)
    with pytest.raises(NotFound):
        order_cancel(order_id=order.pk, user=stranger)
    assert list(order_list(user=stranger)) == []
    assert Order.objects.get().status == OrderStatus.PLACED


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_orders_for_ten_units_sell_exactly_ten() -> None:
    variant = variant_of(make_product(stock=10))
    users = [make_user() for _ in range(50)]
    results = run_concurrently(
        50,
        lambda i: order_place(user=users[i], items=[OrderItem(variant_id=variant.pk, quantity=1)]),
    )
    outcomes = Counter(type(result).__name__ for result in results)
    assert outcomes == {"Order": 10, "OutOfStock": 40}
    assert Stock.objects.get(variant=variant).quantity == 0
    assert Order.objects.count() == 10


@pytest.mark.django_db(transaction=True)
def test_orders_locking_the_same_variants_in_opposite_orders_do_not_deadlock() -> None:
    first, second = variant_of(make_product(stock=100)), variant_of(make_product(stock=100))
    users = [make_user() for _ in range(20)]

    def place(index: int) -> object:
        pair = [first, second] if index % 2 else [second, first]
        items = [OrderItem(variant_id=v.pk, quantity=1) for v in pair]
        return order_place(user=users[index], items=items)

    results = run_concurrently(20, place)
    assert all(isinstance(result, Order) for result in results), results
    assert Stock.objects.get(variant=first).quantity == 80
    assert Stock.objects.get(variant=second).quantity == 80


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_retries_with_one_key_place_one_order() -> None:
    variant = variant_of(make_product(stock=100))
    customer = make_user()
    items = [OrderItem(variant_id=variant.pk, quantity=2)]
    results = run_concurrently(
        20, lambda i: order_place_once(user=customer, items=items, idempotency_key="order-1")
    )
    (order,) = Order.objects.all()
    assert {result.order.pk for result in results} == {order.pk}
    assert sorted(result.replayed for result in results) == [False] + [True] * 19
    assert Stock.objects.get(variant=variant).quantity == 98


@pytest.mark.django_db
def test_a_key_is_for_one_order_of_one_user() -> None:
    variant = variant_of(make_product(stock=100))
    ada, bob = make_user(), make_user()
    one = [OrderItem(variant_id=variant.pk, quantity=1)]
    first = order_place_once(user=ada, items=one, idempotency_key="k")

    with pytest.raises(IdempotencyKeyReused) as caught:
        order_place_once(user=ada, items=one * 2, idempotency_key="k")
    assert caught.value.extra == {"order_id": first.order.pk}
    assert order_place_once(user=bob, items=one, idempotency_key="k").replayed is False
    assert order_place_once(user=ada, items=one, idempotency_key=None).replayed is False
    with pytest.raises(IdempotencyKeyInvalid):
        order_place_once(user=ada, items=one, idempotency_key="")
    assert Order.objects.filter(user=ada).count() == 2


@pytest.mark.django_db
def test_a_key_whose_first_order_failed_places_the_retry() -> None:
    dress = make_product(stock=1)
    items = [OrderItem(variant_id=variant_of(dress).pk, quantity=2)]
    customer = make_user()
    with pytest.raises(OutOfStock):
        order_place_once(user=customer, items=items, idempotency_key="k")
    Stock.objects.filter(variant=variant_of(dress)).update(quantity=5)

    placement = order_place_once(user=customer, items=items, idempotency_key="k")
    assert (placement.replayed, Order.objects.get().pk) == (False, placement.order.pk)
