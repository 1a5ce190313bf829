"""Exercise 04: the restock alert, a background task enqueued with the restock."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from fashionistar.inventory.models import Stock


def restock_alert(*, variant_id: int) -> str:
    """Tell the customers who wait for this variant that it is back (here: say what we send).

    Args:
        variant_id: The variant.

    Returns:
        The alert's text.
    """
    stock = Stock.objects.select_related("variant").get(variant_id=variant_id)
    return f"{stock.variant.sku}: {stock.quantity} in stock"


# TODO: the alert is sent inside the request, before the restock is even committed. Make it
# restock_alert_task, a task on the "emails" queue, and enqueue it in the restock's transaction.
def stock_restock(*, variant_id: int, quantity: int) -> int:
    """Add units to a variant's stock and alert the customers waiting for it.

    Args:
        variant_id: The variant.
        quantity: Units that arrived.

    Returns:
        The units in stock now.
    """
    with transaction.atomic():
        Stock.objects.filter(variant_id=variant_id).update(quantity=F("quantity") + quantity)
        restock_alert(variant_id=variant_id)
        return Stock.objects.get(variant_id=variant_id).quantity
