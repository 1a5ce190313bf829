"""Helpers for the payment tests."""

from __future__ import annotations

from decimal import Decimal

import httpx

from fashionistar.accounts.models import User
from fashionistar.orders.models import Order
from fashionistar_dev.partners import GatewayServer


def charges_made(server: GatewayServer, reference: str | None = None) -> int:
    """Ask the gateway over HTTP how many charges it really made."""
    params = {"reference": reference} if reference else {}
    return httpx.get(f"{server.url}/v1/charges", params=params, timeout=5).json()["count"]


def make_order(user: User, total: str = "10.00") -> Order:
    return Order.objects.create(user=user, currency="EUR", total=Decimal(total))
