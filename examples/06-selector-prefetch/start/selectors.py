"""Exercise 06: the order history page, in a number of queries that does not grow."""

from __future__ import annotations

from django.db.models import QuerySet

from fashionistar.accounts.models import User
from fashionistar.orders.models import Order


def order_history(*, user: User) -> QuerySet[Order]:
    """Return the user's orders, newest first, ready to show every line with its product.

    The page shows, for each order, each line's product name and size
    (``line.variant.product.name``, ``line.variant.size``).

    Args:
        user: The customer.

    Returns:
        The orders.
    """
    # TODO: this runs one more query per order and two more per line. Make it two queries.
    return Order.objects.filter(user=user).order_by("-created_at", "-pk")
