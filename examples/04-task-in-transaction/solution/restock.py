"""Exercise 04, reference solution: a task declared with Django's API, enqueued in the
restock's transaction, run by a worker once it commits."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.tasks import task

from fashionistar.inventory.models import Stock


@task(queue_name="emails")
def restock_alert_task(*, variant_id: int) -> str:
    """Tell the customers who wait for this variant that it is back (here: say what we send).

    It takes an id and reads the stock when it runs: the payload crosses into another process
    as JSON, and the worker sees the committed stock. Running it twice sends the same text.

    Args:
        variant_id: The variant.

    Returns:
        The alert's text.
    """
    stock = Stock.objects.select_related("variant").get(variant_id=variant_id)
    return f"{stock.variant.sku}: {stock.quantity} in stock"


def stock_restock(*, variant_id: int, quantity: int) -> int:
    """Add units to a variant's stock and alert the customers waiting for it.

    The task is written to the outbox in this transaction and reaches Redis when it commits:
    a restock that rolls back alerts nobody, and a committed one is never without its alert.

    Args:
        variant_id: The variant.
        quantity: Units that arrived.

    Returns:
        The units in stock now.
    """
    with transaction.atomic():
        Stock.objects.filter(variant_id=variant_id).update(quantity=F("quantity") + quantity)
        restock_alert_task.enqueue(variant_id=variant_id)
        return Stock.objects.get(variant_id=variant_id).quantity
