"""Inventory writes: every stock change goes through the one lock helper, in pk order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from fashionistar.inventory.models import Reservation, Stock
from fashionistar.kernel.errors import ApplicationError


class OutOfStock(ApplicationError):
    """Fewer units are left than the order asks for."""

    status_code = 409
    code = "out_of_stock"


# --8<-- [start:stock_lock]
def stock_lock(*, variant_ids: Iterable[int]) -> dict[int, Stock]:
    """Lock the stock rows of these variants, always in primary-key order.

    Every writer locks through here, so two orders touching the same variants take their locks
    in the same order and cannot deadlock. The query is evaluated at once: an unevaluated
    ``select_for_update()`` locks nothing.

    Must be called inside ``transaction.atomic()``.

    Args:
        variant_ids: The variants.

    Returns:
        The locked rows by variant id (variants without a stock row are missing).
    """
    rows = Stock.objects.filter(variant_id__in=set(variant_ids)).order_by("pk").select_for_update()
    return {row.variant_id: row for row in rows}


# --8<-- [end:stock_lock]


# --8<-- [start:stock_reserve]
def stock_reserve(*, order_id: int, quantities: Mapping[int, int]) -> list[Reservation]:
    """Take units from stock for an order: all of them or none.

    Must be called inside ``transaction.atomic()``: on :class:`OutOfStock` the caller's
    transaction rolls back whatever this call already took.

    Args:
        order_id: The order holding the units.
        quantities: Units per variant id (each positive).

    Returns:
        The reservations made.

    Raises:
        OutOfStock: A variant has fewer units left than asked for.
    """
    locked = stock_lock(variant_ids=quantities)
    short = {
        variant_id: locked[variant_id].quantity if variant_id in locked else 0
        for variant_id, wanted in quantities.items()
        if variant_id not in locked or locked[variant_id].quantity < wanted
    }
    if short:
        raise OutOfStock(
            "Not enough stock for some items.",
            extra={"available": {str(k): v for k, v in sorted(short.items())}},
        )
    for variant_id, wanted in sorted(quantities.items()):
        # F() makes the database do the arithmetic on the locked row; the CHECK constraint
        # (quantity >= 0) is the last line of defence.
        Stock.objects.filter(pk=locked[variant_id].pk).update(quantity=F("quantity") - wanted)
    return Reservation.objects.bulk_create(
        Reservation(order_id=order_id, variant_id=variant_id, quantity=wanted)
        for variant_id, wanted in sorted(quantities.items())
    )


# --8<-- [end:stock_reserve]


def stock_release(*, order_id: int) -> int:
    """Give an order's reserved units back to stock, once.

    Must be called inside ``transaction.atomic()``.

    Args:
        order_id: The order.

    Returns:
        How many units went back.
    """
    reservations = list(
        Reservation.objects.filter(order_id=order_id, released_at__isnull=True)
        .order_by("pk")
        .select_for_update()
    )
    stock_lock(variant_ids=[r.variant_id for r in reservations])
    for reservation in reservations:
        Stock.objects.filter(variant_id=reservation.variant_id).update(
            quantity=F("quantity") + reservation.quantity
        )
    Reservation.objects.filter(pk__in=[r.pk for r in reservations]).update(
        released_at=timezone.now()
    )
    return sum(r.quantity for r in reservations)


# --8<-- [start:stock_set]
def stock_set(*, variant_id: int, quantity: int) -> Stock:
    """Set the units on hand of a variant (restocking, demo data), under the stock lock.

    A variant without a stock row gets one first, with ``INSERT ... ON CONFLICT DO NOTHING``
    (two first restocks of a variant do not collide); then the row is locked through
    :func:`stock_lock`, like every other stock change, and written. Runs in the caller's
    transaction, or in one of its own.

    Args:
        variant_id: The variant.
        quantity: Units on hand, zero or more.

    Returns:
        The stock row.

    Raises:
        ApplicationError: The quantity is negative.
    """
    if quantity < 0:
        raise ApplicationError("Stock cannot be negative.", extra={"quantity": quantity})
    with transaction.atomic(savepoint=False):
        Stock.objects.bulk_create([Stock(variant_id=variant_id)], ignore_conflicts=True)
        stock = stock_lock(variant_ids=[variant_id])[variant_id]
        stock.quantity = quantity
        # save(), not update(): its post_save moves the catalog's cache version on.
        stock.save(update_fields=["quantity"])
    return stock


# --8<-- [end:stock_set]
