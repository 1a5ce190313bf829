"""Events of the orders domain."""

from __future__ import annotations

from typing import ClassVar

from fashionistar.events.bus import Event


class OrderPlaced(Event):
    """An order was placed and its stock taken (published by ``order_place``).

    Attributes:
        order_id: The order.
        user_id: The customer.
        total: The total, as a decimal string (``"178.00"``).
        currency: ISO 4217 code.
    """

    name: ClassVar[str] = "orders.order.placed"

    order_id: int
    user_id: int
    total: str
    currency: str
