"""Exercise 05, reference solution: the async ORM reads, the sync service writes in a thread."""

from __future__ import annotations

from asgiref.sync import sync_to_async

from fashionistar.accounts.models import User
from fashionistar.orders.models import Order
from fashionistar.orders.selectors import aorder_get
from fashionistar.orders.services import OrderItem, order_place


async def order_repeat(*, user: User, order_id: int) -> Order:
    """Place the items of one of the customer's orders again, as a new order.

    The order is read with the async ORM (its lines are prefetched, so reading them runs no
    query); placing the new one needs a transaction and row locks, which the async ORM does
    not have, so the sync service runs in a worker thread.

    Args:
        user: The customer.
        order_id: The order to repeat; it must be theirs.

    Returns:
        The new order (today's prices).

    Raises:
        NotFound: No such order of theirs.
    """
    previous = await aorder_get(order_id=order_id, user=user)
    items = [
        OrderItem(variant_id=line.variant_id, quantity=line.quantity)
        for line in previous.lines.all()
    ]
    return await sync_to_async(order_place)(user=user, items=items)
