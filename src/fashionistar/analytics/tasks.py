"""Analytics tasks: idempotent writes of reporting facts."""

from __future__ import annotations

from django.tasks import task

from fashionistar.analytics.services import order_fact_record


@task(queue_name="analytics")
def analytics_record_order(*, order_id: int) -> int:
    """Record a placed order's fact (a second run changes nothing).

    Args:
        order_id: The order.

    Returns:
        The fact's id.
    """
    return order_fact_record(order_id=order_id).pk
