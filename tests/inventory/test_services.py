"""Inventory: ordered locks, F() arithmetic, and a database that refuses negative stock."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from fashionistar.catalog.models import Variant
from fashionistar.inventory.models import Reservation, Stock
from fashionistar.inventory.services import (
    OutOfStock,
    stock_lock,
    stock_release,
    stock_reserve,
    stock_set,
)
from fashionistar.kernel.errors import ApplicationError
from fashionistar.orders.models import Order
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db


def on_hand(variant: Variant) -> int:
    """The units of a variant left in stock."""
    return Stock.objects.get(variant=variant).quantity


def make_order() -> Order:
    return Order.objects.create(user=make_user(), currency="EUR", total="1.00")


def test_stock_lock_runs_one_ordered_select_for_update() -> None:
    variants = [variant_of(make_product(stock=3)) for _ in range(3)]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = stock_lock(variant_ids=[v.pk for v in reversed(variants)])
    assert sorted(locked) == sorted(v.pk for v in variants)
    (sql,) = [q["sql"] for q in queries.captured_queries]
    assert "FOR UPDATE" in sql
    assert sql.rstrip().endswith("FOR UPDATE")
    assert 'ORDER BY "inventory_stock"."id" ASC' in sql


def test_reserve_takes_units_and_release_gives_them_back_once() -> None:
    variant = variant_of(make_product(stock=5))
    order = make_order()
    with transaction.atomic():
        (reservation,) = stock_reserve(order_id=order.pk, quantities={variant.pk: 3})
    assert reservation.quantity == 3
    assert on_hand(variant) == 2
    with transaction.atomic():
        assert stock_release(order_id=order.pk) == 3
        assert stock_release(order_id=order.pk) == 0
    assert on_hand(variant) == 5
    assert Reservation.objects.get().released_at is not None


def test_out_of_stock_takes_nothing_and_says_what_is_left() -> None:
    plenty, scarce = variant_of(make_product(stock=9)), variant_of(make_product(stock=1))
    order = make_order()
    with pytest.raises(OutOfStock) as error, transaction.atomic():
        stock_reserve(order_id=order.pk, quantities={plenty.pk: 2, scarce.pk: 2})
    assert error.value.extra == {"available": {str(scarce.pk): 1}}
    assert error.value.status_code == 409
    assert (on_hand(plenty), on_hand(scarce)) == (9, 1)
    assert not Reservation.objects.exists()


def test_a_variant_without_stock_row_counts_as_zero() -> None:
    variant = variant_of(make_product(stock=1))
    Stock.objects.filter(variant=variant).delete()
    assert not Stock.objects.filter(variant=variant).exists()
    with pytest.raises(OutOfStock), transaction.atomic():
        stock_reserve(order_id=make_order().pk, quantities={variant.pk: 1})


def test_the_database_refuses_negative_stock() -> None:
    variant = variant_of(make_product(stock=1))
    with pytest.raises(IntegrityError, match="stock_quantity_not_negative"), transaction.atomic():
        Stock.objects.filter(variant=variant).update(quantity=-1)


def test_stock_set_refuses_negative_quantities() -> None:
    variant = variant_of(make_product(stock=1))
    assert stock_set(variant_id=variant.pk, quantity=7).quantity == 7
    with pytest.raises(ApplicationError, match="cannot be negative"):
        stock_set(variant_id=variant.pk, quantity=-1)
