"""Exercise 14, reference solution: one span around the work, its queries and log line in it."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db.models import Sum
from opentelemetry import trace

from fashionistar.kernel.errors import ApplicationError, NotFound
from fashionistar.orders.models import Order, OrderStatus

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class RefundRefused(ApplicationError):
    """A cancelled order has nothing left to refund."""

    status_code = 409
    code = "refund_refused"


def refund_quote(*, order_id: int) -> Decimal:
    """Say how much a refund of an order would pay back.

    The span is the current one while the work runs: the SQL spans of the instrumented driver
    become its children, and the log line carries its trace id. An exception that leaves it is
    recorded on it and sets its status to ERROR (``start_as_current_span`` does both).

    Args:
        order_id: The order.

    Returns:
        The amount.

    Raises:
        NotFound: No such order.
        RefundRefused: The order is cancelled.
    """
    with tracer.start_as_current_span("orders.refund_quote", attributes={"order.id": order_id}):
        order = Order.objects.filter(pk=order_id).first()
        if order is None:
            raise NotFound("Order not found.", extra={"order_id": order_id})
        if order.status == OrderStatus.CANCELLED:
            raise RefundRefused("A cancelled order has nothing to refund.")
        amount = order.lines.aggregate(amount=Sum("line_total"))["amount"] or Decimal("0.00")
        trace.get_current_span().set_attribute("refund.amount", str(amount))
        logger.info("refund quoted", extra={"order.id": order_id, "refund.amount": str(amount)})
        return amount
