"""Analytics services: the writes of reporting facts."""

from __future__ import annotations

from django.db.models import Sum

from fashionistar.analytics.models import OrderFact
from fashionistar.orders.models import Order


def order_fact_record(*, order_id: int) -> OrderFact:
    """Record a placed order's fact; a second call returns the first one's and changes nothing.

    Args:
        order_id: The order.

    Returns:
        The fact.
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
    return fact
