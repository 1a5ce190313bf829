"""The one place where events meet their handlers.

Each handler is small: it turns an event into durable tasks (each queue served by its own
workers). Their order here is the order they run in.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from fashionistar.analytics.tasks import analytics_record_order
from fashionistar.events.bus import Registry
from fashionistar.orders.events import OrderPlaced
from fashionistar.orders.tasks import order_confirmation_task, order_payment_deadline_task


# --8<-- [start:handler_functions]
async def mail_order_confirmation(event: OrderPlaced) -> None:
    """Enqueue the confirmation mail (``emails``).

    Args:
        event: The event.
    """
    await order_confirmation_task.aenqueue(order_id=event.order_id)


async def start_payment_deadline(event: OrderPlaced) -> None:
    """Enqueue the unpaid-order check for when the payment window closes (``critical``).

    Args:
        event: The event.
    """
    deadline = timezone.now() + timedelta(seconds=settings.ORDER_PAYMENT_WINDOW_S)
    await order_payment_deadline_task.using(run_after=deadline).aenqueue(order_id=event.order_id)


async def record_order_analytics(event: OrderPlaced) -> None:
    """Enqueue the reporting fact (``analytics``).

    Args:
        event: The event.
    """
    await analytics_record_order.aenqueue(order_id=event.order_id)


# --8<-- [end:handler_functions]


# --8<-- [start:handlers]
HANDLERS: Registry = {
    OrderPlaced: (mail_order_confirmation, start_payment_deadline, record_order_analytics),
}
# --8<-- [end:handlers]
