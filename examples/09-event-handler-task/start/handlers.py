"""Exercise 09: an event handler that turns ``OrderPlaced`` into a task."""

from __future__ import annotations

from decimal import Decimal

from fashionistar.orders.events import OrderPlaced

VIP_TOTAL = Decimal("100.00")


def welcome_vip(event: OrderPlaced) -> None:
    """Enqueue ``vip_welcome_task`` (in ``workshop_tasks``) for an order of ``VIP_TOTAL`` or more.

    Args:
        event: The event; its ``total`` is a decimal string.
    """
    # TODO: enqueue the task, with the order's id, only for big orders.
    raise NotImplementedError("write the handler")
