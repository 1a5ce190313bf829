"""Exercise 03, reference solution: a small handler that only enqueues."""

from __future__ import annotations

from decimal import Decimal

from workshop_tasks import vip_welcome_task

from fashionistar.orders.events import OrderPlaced

VIP_TOTAL = Decimal("100.00")


async def welcome_vip(event: OrderPlaced) -> None:
    """Enqueue ``vip_welcome_task`` for an order of ``VIP_TOTAL`` or more.

    The bus calls handlers after the order's transaction commits; the task backend writes the
    task to the outbox and hands it to Redis, so the worker finds the committed order.

    Args:
        event: The event; its ``total`` is a decimal string.
    """
    if Decimal(event.total) >= VIP_TOTAL:
        await vip_welcome_task.aenqueue(order_id=event.order_id)
