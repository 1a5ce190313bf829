"""Analytics tasks: idempotent writes of reporting facts."""

from __future__ import annotations

from django.db.models import Sum
from django.tasks import task

from fashionistar.analytics.models import OrderFact
from fashionistar.orders.models import Order


@task(queue_name="analytics")
def analytics_record_order(*, order_id: int) -> int:
    """Record a placed order's fact (a second run changes nothing).

    Args:
        order_id: The order.

    Returns:
        The fact's id.
    """
    order = Order.objects.get(pk=order_id)
    units = order.lines.aggregate(units=Sum("quantity"))["units"] or 0
    fact, _ = OrderFact.objects.get_or_create(
        order=order,
        defaults={
            "placed_at": order.created_at,
            "currency": order.currency,
            "total": order.total,
            "units": units,
        },
    )
    return fact.pk
