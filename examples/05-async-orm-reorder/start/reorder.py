"""Exercise 05: "order again", from async code: reads with the async ORM, the write in a thread."""

from __future__ import annotations

from fashionistar.accounts.models import User
from fashionistar.orders.models import Order
from fashionistar.orders.services import OrderItem, order_place


# TODO: every line here runs a query, or a whole transaction, inside the event loop.
async def order_repeat(*, user: User, order_id: int) -> Order:
    """Place the items of one of the customer's orders again, as a new order.

    Args:
        user: The customer.
        order_id: The order to repeat; it must be theirs.

    Returns:
        The new order (today's prices).

    Raises:
        NotFound: No such order of theirs.
    """
    previous = Order.objects.get(pk=order_id, user=user)
    items = [
        OrderItem(variant_id=line.variant_id, quantity=line.quantity)
        for line in previous.lines.all()
    ]
    return order_place(user=user, items=items)
