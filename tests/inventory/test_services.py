"""Inventory: ordered locks, F() arithmetic, and a database that refuses negative stock."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from fashionistar.catalog.models import Variant
from fashionistar.inventory import services
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
from tests.concurrency import run_concurrently
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


def test_stock_set_writes_a_row_for_a_variant_without_one() -> None:
    variant = variant_of(make_product(stock=1))
    Stock.objects.filter(variant=variant).delete()

    assert stock_set(variant_id=variant.pk, quantity=4).quantity == 4
    assert on_hand(variant) == 4


# --- every stock change goes through stock_lock ------------------------------------------------

ORDERED_LOCK = 'ORDER BY "inventory_stock"."id" ASC FOR UPDATE'


def reserve(variant: Variant) -> None:
    with transaction.atomic():
        stock_reserve(order_id=make_order().pk, quantities={variant.pk: 1})


def release(variant: Variant) -> None:
    order = make_order()
    with transaction.atomic():
        stock_reserve(order_id=order.pk, quantities={variant.pk: 1})
    with transaction.atomic():
        stock_release(order_id=order.pk)


STOCK_CHANGES: dict[str, Callable[[Variant], None]] = {
    "stock_reserve": reserve,
    "stock_release": release,
    "stock_set": lambda variant: stock_set(variant_id=variant.pk, quantity=3),
}
"""Each public service of inventory.services that changes stock, and a way to call it."""


def test_every_stock_changing_service_is_checked_below() -> None:
    public = {
        name
        for name, function in inspect.getmembers(services, inspect.isfunction)
        if function.__module__ == services.__name__ and not name.startswith("_")
    }
    # A new service that writes stock must be added to STOCK_CHANGES (and so take the lock).
    assert public - {"stock_lock"} == set(STOCK_CHANGES)


@pytest.mark.parametrize("name", STOCK_CHANGES)
def test_each_stock_write_follows_the_ordered_lock_of_that_row(name, monkeypatch) -> None:
    variant = variant_of(make_product(stock=5))
    locked: list[set[int]] = []
    real_lock = services.stock_lock

    def spied_lock(*, variant_ids):
        variant_ids = set(variant_ids)
        locked.append(variant_ids)
        return real_lock(variant_ids=variant_ids)

    monkeypatch.setattr(services, "stock_lock", spied_lock)
    with CaptureQueriesContext(connection) as queries:
        STOCK_CHANGES[name](variant)

    assert {variant.pk} in locked
    statements = [q["sql"] for q in queries.captured_queries]
    writes = [
        i
        for i, sql in enumerate(statements)
        if sql.startswith(('UPDATE "inventory_stock"', 'INSERT INTO "inventory_stock"'))
        and "ON CONFLICT DO NOTHING" not in sql  # creates a missing row, changes no stock
    ]
    assert writes, statements
    for write in writes:
        # The ordered lock came first, in the same atomic block (a test's blocks are savepoints).
        ended = [i for i, sql in enumerate(statements[:write]) if sql.startswith("RELEASE")]
        block = statements[ended[-1] + 1 if ended else 0 : write]
        assert any(ORDERED_LOCK in sql for sql in block), statements


@pytest.mark.django_db(transaction=True)
def test_concurrent_restock_and_orders_keep_every_unit_accounted_for() -> None:
    variant = variant_of(make_product(stock=0))
    orders = [make_order() for _ in range(12)]

    def work(index: int) -> object:
        if index == 0:
            return stock_set(variant_id=variant.pk, quantity=8)
        with transaction.atomic():
            return stock_reserve(order_id=orders[index - 1].pk, quantities={variant.pk: 1})

    results = run_concurrently(13, work)

    taken = Reservation.objects.filter(variant=variant).count()
    assert taken == sum(isinstance(result, list) for result in results)
    # Stock was 0 before the restock: every unit reserved came from the 8 it set.
    assert on_hand(variant) + taken == 8
    assert taken <= 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_restocks_of_a_variant_make_one_row() -> None:
    variant = variant_of(make_product(stock=1))
    Stock.objects.filter(variant=variant).delete()

    results = run_concurrently(4, lambda i: stock_set(variant_id=variant.pk, quantity=i + 1))

    assert all(isinstance(result, Stock) for result in results), results
    assert Stock.objects.filter(variant=variant).count() == 1
    assert on_hand(variant) in {1, 2, 3, 4}
