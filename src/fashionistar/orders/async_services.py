"""Checkout, async: the one place where an order's request waits on several services at once.

:func:`acheckout_summary` reads the order once with the async ORM, then asks three services over
HTTP (shipping quote, fraud check, the payment gateway's record of charges) and Redis (through
``redis.asyncio``) at the same time with ``asyncio.gather``. Those four waits overlap, so the
request takes about as long as the slowest of them, not their sum. ORM queries would not
overlap: Django runs a request's async ORM calls one after another on one thread.

Every call has a timeout, and a partner that fails or times out does not fail the checkout: its
part of the summary says ``unknown`` and the failure is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings
from redis.exceptions import RedisError

from fashionistar.accounts.models import User
from fashionistar.kernel.counters import aincrement
from fashionistar.kernel.partners import partner_tls
from fashionistar.orders.models import Order
from fashionistar.orders.selectors import aorder_get
from fashionistar.payments.gateway import gateway_base_url

logger = logging.getLogger(__name__)

PARTNER_TIMEOUT = httpx.Timeout(2.0, connect=1.0)
"""Each partner has 1 s to accept the connection and 2 s to answer; checkout never hangs."""

RECENT_VIEWS_WINDOW_S = 3600
LARGEST_SHIPPING_AMOUNT = Decimal("99999999.99")
"""A quote above this (or not a finite number) is a partner's fault, shown as no quote."""


@dataclass(frozen=True)
class ShippingQuote:
    """What the shipping service asks to deliver an order.

    Attributes:
        amount: The price of shipping.
        currency: Its currency.
        days: Days to deliver.
    """

    amount: Decimal
    currency: str
    days: int


@dataclass(frozen=True)
class CheckoutSummary:
    """What a customer sees before paying.

    Attributes:
        order_id: The order.
        total: The order's total.
        currency: Its currency.
        shipping: The shipping quote; ``None`` when the shipping service did not answer.
        fraud_verdict: ``accept``, ``review``, or ``unknown`` when the check did not answer.
        gateway_charges: Charges the payment gateway holds for this order; ``None`` when it did
            not answer.
        recent_views: How often the customer opened this summary in the last hour (Redis).
    """

    order_id: int
    total: Decimal
    currency: str
    shipping: ShippingQuote | None
    fraud_verdict: str
    gateway_charges: int | None
    recent_views: int | None


def _json(response: httpx.Response) -> dict[str, Any]:
    response.raise_for_status()
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not a count: {value!r:.80}")
    return int(value)


def _amount(value: object) -> Decimal:
    amount = Decimal(str(value))
    if not amount.is_finite() or abs(amount) > LARGEST_SHIPPING_AMOUNT:
        raise ValueError(f"not an amount: {value!r:.80}")
    return amount


async def _shipping_quote(client: httpx.AsyncClient, *, country: str, items: int) -> ShippingQuote:
    response = await client.post(
        f"{settings.SHIPPING_SERVICE_URL}/v1/shipping/quotes",
        json={"country": country, "items": items},
    )
    body = _json(response)
    return ShippingQuote(_amount(body["amount"]), str(body["currency"]), _count(body["days"]))


async def _fraud_verdict(client: httpx.AsyncClient, *, order: Order) -> str:
    response = await client.post(
        f"{settings.FRAUD_SERVICE_URL}/v1/fraud/checks",
        json={
            "amount": str(order.total),
            "currency": order.currency,
            "customer": str(order.user_id),
        },
    )
    return str(_json(response)["verdict"])


async def _gateway_charges(client: httpx.AsyncClient, *, order: Order) -> int:
    response = await client.get(
        f"{gateway_base_url()}/v1/charges", params={"reference": f"order-{order.pk}"}
    )
    return _count(_json(response)["count"])


async def _recent_views(*, order: Order) -> int:
    key = f"checkout:views:{order.user_id}:{order.pk}"
    return await aincrement(key, ttl_s=RECENT_VIEWS_WINDOW_S)


def _answer[T](name: str, result: T | BaseException, *, order_id: int) -> T | None:
    if isinstance(result, BaseException):
        if not isinstance(
            result, httpx.HTTPError | RedisError | ValueError | KeyError | ArithmeticError
        ):
            raise result  # a bug, not a partner's failure
        logger.warning("checkout: %s did not answer for order %s", name, order_id, exc_info=result)
        return None
    return result


# --8<-- [start:checkout_summary]
async def acheckout_summary(*, user: User, order_id: int, country: str) -> CheckoutSummary:
    """Summarise an order before payment, asking four services at once.

    Args:
        user: The customer; the order must be theirs.
        order_id: The order.
        country: Where to ship, a 2-letter code.

    Returns:
        The summary; a partner that failed shows as ``None`` or ``unknown``.

    Raises:
        NotFound: No such order of the user's.
    """
    order = await aorder_get(order_id=order_id, user=user)  # the ORM first, once
    items = sum(line.quantity for line in order.lines.all())
    async with httpx.AsyncClient(timeout=PARTNER_TIMEOUT, verify=partner_tls()) as client:
        shipping, verdict, charges, views = await asyncio.gather(
            _shipping_quote(client, country=country, items=items),
            _fraud_verdict(client, order=order),
            _gateway_charges(client, order=order),
            _recent_views(order=order),
            return_exceptions=True,  # one slow or failing partner must not sink the others
        )
    return CheckoutSummary(
        order_id=order.pk,
        total=order.total,
        currency=order.currency,
        shipping=_answer("shipping", shipping, order_id=order.pk),
        fraud_verdict=_answer("fraud check", verdict, order_id=order.pk) or "unknown",
        gateway_charges=_answer("payment gateway", charges, order_id=order.pk),
        recent_views=_answer("redis", views, order_id=order.pk),
    )


# --8<-- [end:checkout_summary]
