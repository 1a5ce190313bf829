"""Exercise 14: a span of our own around a piece of work, with its queries under it."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db.models import Sum

from fashionistar.kernel.errors import ApplicationError, NotFound
from fashionistar.orders.models import Order, OrderStatus

logger = logging.getLogger(__name__)


class RefundRefused(ApplicationError):
    """A cancelled order has nothing left to refund."""

    status_code = 409
    code = "refund_refused"


# TODO: a trace shows this work only as loose SQL statements. Wrap it in a span named
# "orders.refund_quote" with the order's id (and, once known, the amount) as attributes.
def refund_quote(*, order_id: int) -> Decimal:
    """Say how much a refund of an order would pay back.

    Args:
        order_id: The order.

    Returns:
        The amount.

    Raises:
        NotFound: No such order.
        RefundRefused: The order is cancelled.
    """
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise NotFound("Order not found.", extra={"order_id": order_id})
    if order.status == OrderStatus.CANCELLED:
        raise RefundRefused("A cancelled order has nothing to refund.")
    amount = order.lines.aggregate(amount=Sum("line_total"))["amount"] or Decimal("0.00")
    logger.info("refund quoted", extra={"order.id": order_id, "refund.amount": str(amount)})
    return amount
