"""Exercise 07, reference solution: a typed, documented service whose log line has fields."""

from __future__ import annotations

import logging

from django.db.models import F

from fashionistar.inventory.models import Stock

logger = logging.getLogger(__name__)


def stock_adjust(*, variant_id: int, delta: int, reason: str) -> int:
    """Change a variant's stock by a number of units (a count, a return, a loss).

    Args:
        variant_id: The variant.
        delta: Units to add (negative: to remove).
        reason: Why, for the people who read the log.

    Returns:
        The units in stock afterwards.
    """
    Stock.objects.filter(variant_id=variant_id).update(quantity=F("quantity") + delta)
    quantity = Stock.objects.get(variant_id=variant_id).quantity
    logger.info(
        "stock adjusted",
        extra={
            "variant.id": variant_id,
            "stock.delta": delta,
            "stock.reason": reason,
            "stock.quantity": quantity,
        },
    )
    return quantity
