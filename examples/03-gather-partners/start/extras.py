"""Exercise 03: ask two partners at once before checkout, each within its time limit."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Extras:
    """What checkout shows next to the order.

    Attributes:
        shipping_days: Days to deliver; ``None`` when the shipping service did not answer.
        fraud_verdict: ``accept`` or ``review``; ``unknown`` when the fraud check did not answer.
    """

    shipping_days: int | None
    fraud_verdict: str


PARTNER_TIMEOUT = httpx.Timeout(1.0)
"""Each partner has one second to answer."""


# TODO: the two calls wait one after the other, with httpx's default time limit, and a partner
# that fails sinks the whole checkout.
async def checkout_extras(
    *, shipping_url: str, fraud_url: str, country: str, amount: str
) -> Extras:
    async with httpx.AsyncClient() as client:
        quote = await client.post(
            f"{shipping_url}/v1/shipping/quotes", json={"country": country, "items": 1}
        )
        check = await client.post(
            f"{fraud_url}/v1/fraud/checks",
            json={"amount": amount, "currency": "EUR", "customer": "42"},
        )
    return Extras(shipping_days=quote.json()["days"], fraud_verdict=check.json()["verdict"])
