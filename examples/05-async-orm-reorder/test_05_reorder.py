"""Exercise 05: async code that reads with the async ORM and writes through the sync service."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from tests.factories import make_product, make_user, variant_of

from fashionistar.inventory.models import Stock
from fashionistar.inventory.services import OutOfStock
from fashionistar.kernel.errors import NotFound
from fashionistar.orders.models import Order
from fashionistar.orders.services import OrderItem, order_place

PARTICIPANT_FILE = "reorder.py"
pytestmark = pytest.mark.django_db


@pytest.fixture
def first_order():
    dress, belt = make_product(name="Dress", stock=5), make_product(name="Belt", stock=5)
    items = [
        OrderItem(variant_id=variant_of(dress).pk, quantity=2),
        OrderItem(variant_id=variant_of(belt).pk, quantity=1),
    ]
    return order_place(user=make_user(), items=items)


def lines_of(order: Order) -> list[tuple[int, int]]:
    return sorted(order.lines.values_list("variant_id", "quantity"))


def repeat(participant, **kwargs) -> Order:
    return async_to_sync(participant.order_repeat)(**kwargs)


def test_the_same_items_are_ordered_again(participant, first_order) -> None:
    again = repeat(participant, user=first_order.user, order_id=first_order.pk)
    assert again.pk != first_order.pk
    assert lines_of(again) == lines_of(first_order)
    assert again.total == first_order.total


def test_another_customers_order_is_not_found(participant, first_order) -> None:
    with pytest.raises(NotFound):
        repeat(participant, user=make_user(), order_id=first_order.pk)


def test_an_order_that_cannot_be_filled_writes_nothing(participant, first_order) -> None:
    Stock.objects.update(quantity=1)  # the dress's two units are gone
    with pytest.raises(OutOfStock):
        repeat(participant, user=first_order.user, order_id=first_order.pk)
    assert Order.objects.count() == 1
    assert set(Stock.objects.values_list("quantity", flat=True)) == {1}
