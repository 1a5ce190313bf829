"""The task of exercise 09, given: participants write the handler that enqueues it."""

from __future__ import annotations

from django.tasks import task

from fashionistar.orders.models import Order


@task(queue_name="emails")
def vip_welcome_task(*, order_id: int) -> str:
    """Welcome a customer whose order is big enough (here: say whom we would mail).

    Args:
        order_id: The order (an id, never the model instance: it crosses a process boundary).

    Returns:
        Who is welcomed.
    """
    order = Order.objects.select_related("user").get(pk=order_id)
    return f"welcome {order.user.username}"
