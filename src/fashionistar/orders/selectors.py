"""Order reads: a customer sees only their own orders."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from fashionistar.accounts.models import User
from fashionistar.kernel.errors import NotFound
from fashionistar.orders.models import Order, OrderLine


def order_list(*, user: User) -> QuerySet[Order]:
    """Return the user's orders, newest first, with their lines and payments.

    Args:
        user: The customer.

    Returns:
        A lazy queryset (paginate it).
    """
    lines = OrderLine.objects.select_related("variant__product")
    return Order.objects.filter(user=user).prefetch_related(
        Prefetch("lines", queryset=lines), "payments"
    )


# --8<-- [start:order_get]
def order_get(*, order_id: int, user: User) -> Order:
    """Return one of the user's orders with its lines.

    Args:
        order_id: The order.
        user: The customer.

    Returns:
        The order.

    Raises:
        NotFound: No such order, or it is somebody else's (the answer is the same).
    """
    order = order_list(user=user).filter(pk=order_id).first()
    if order is None:
        raise NotFound("Order not found.", extra={"order_id": order_id})
    return order


# --8<-- [end:order_get]


# --8<-- [start:aorder_get]
async def aorder_get(*, order_id: int, user: User) -> Order:
    """Async twin of :func:`order_get`, with the native async ORM.

    Args:
        order_id: The order.
        user: The customer.

    Returns:
        The order, its lines prefetched.

    Raises:
        NotFound: No such order of theirs.
    """
    order = await order_list(user=user).filter(pk=order_id).afirst()
    if order is None:
        raise NotFound("Order not found.", extra={"order_id": order_id})
    return order


# --8<-- [end:aorder_get]
