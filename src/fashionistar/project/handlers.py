"""The one place where events meet their handlers: part of the project's wiring.

Each handler is small: it turns an event into durable tasks (each queue served by its own
workers), inside the transaction that published the event. Their order here is the order they
run in. ``settings.EVENT_HANDLERS`` names :data:`HANDLERS`, and ``EventsConfig.ready()`` connects
it to the bus, so the bus, which every domain imports, imports no domain.
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
def mail_order_confirmation(event: OrderPlaced) -> None:
    """Enqueue the confirmation mail (``emails``).

    Args:
        event: The event.
    """
    order_confirmation_task.enqueue(order_id=event.order_id)


def start_payment_deadline(event: OrderPlaced) -> None:
    """Enqueue the unpaid-order check for when the payment window closes (``critical``).

    Args:
        event: The event.
    """
    deadline = timezone.now() + timedelta(seconds=settings.ORDER_PAYMENT_WINDOW_S)
    order_payment_deadline_task.using(run_after=deadline).enqueue(order_id=event.order_id)


def record_order_analytics(event: OrderPlaced) -> None:
    """Enqueue the reporting fact (``analytics``).

    Args:
        event: The event.
    """
    analytics_record_order.enqueue(order_id=event.order_id)


# --8<-- [end:handler_functions]


# --8<-- [start:handlers]
HANDLERS: Registry = {
    OrderPlaced: (mail_order_confirmation, start_payment_deadline, record_order_analytics),
}
# --8<-- [end:handlers]
