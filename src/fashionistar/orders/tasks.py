"""Background tasks of the orders domain: ids in, idempotent, each calling one service."""

from __future__ import annotations

from django.tasks import task

from fashionistar.orders.services import order_expire_unpaid, order_send_confirmation


@task(queue_name="emails")
def order_confirmation_task(*, order_id: int) -> bool:
    """Mail the order's confirmation (once, however often this runs).

    Args:
        order_id: The order.

    Returns:
        Whether a mail was sent by this run.
    """
    return order_send_confirmation(order_id=order_id)


@task(queue_name="critical")
def order_payment_deadline_task(*, order_id: int) -> str:
    """When the payment window closes: cancel the order if it is still unpaid.

    Args:
        order_id: The order.

    Returns:
        The order's status afterwards.
    """
    return str(order_expire_unpaid(order_id=order_id).status)
