"""Exercise 09, reference solution: a small handler that only enqueues."""

from __future__ import annotations

from decimal import Decimal

from workshop_tasks import vip_welcome_task

from fashionistar.orders.events import OrderPlaced

VIP_TOTAL = Decimal("100.00")


def welcome_vip(event: OrderPlaced) -> None:
    """Enqueue ``vip_welcome_task`` for an order of ``VIP_TOTAL`` or more.

    The bus runs handlers in the order's transaction; the task backend writes the task to the
    outbox there and hands it to Redis once it commits, so the worker finds the committed order.

    Args:
        event: The event; its ``total`` is a decimal string.
    """
    if Decimal(event.total) >= VIP_TOTAL:
        vip_welcome_task.enqueue(order_id=event.order_id)
