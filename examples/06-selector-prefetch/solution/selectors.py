"""Exercise 06, reference solution: one query for the orders, one for all their lines."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from fashionistar.accounts.models import User
from fashionistar.orders.models import Order, OrderLine


def order_history(*, user: User) -> QuerySet[Order]:
    """Return the user's orders, newest first, with their lines, variants and products.

    Args:
        user: The customer.

    Returns:
        The orders; iterating them and their lines runs two queries in all.
    """
    lines = OrderLine.objects.select_related("variant__product").order_by("pk")
    return (
        Order.objects.filter(user=user)
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("-created_at", "-pk")
    )
