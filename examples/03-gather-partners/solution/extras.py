"""Exercise 03, reference solution: two partners asked at once, each failure contained."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

logger = logging.getLogger(__name__)


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


def _answer[T](partner: str, result: T | BaseException) -> T | None:
    """The partner's answer, or ``None`` (logged) when it failed; a bug is raised again."""
    if isinstance(result, httpx.HTTPError | KeyError | ValueError):
        logger.warning("%s did not answer", partner, exc_info=result)
        return None
    if isinstance(result, BaseException):
        raise result
    return result


async def _shipping_days(client: httpx.AsyncClient, url: str, *, country: str) -> int:
    response = await client.post(f"{url}/v1/shipping/quotes", json={"country": country, "items": 1})
    response.raise_for_status()
    return int(response.json()["days"])


async def _fraud_verdict(client: httpx.AsyncClient, url: str, *, amount: str) -> str:
    response = await client.post(
        f"{url}/v1/fraud/checks", json={"amount": amount, "currency": "EUR", "customer": "42"}
    )
    response.raise_for_status()
    return str(response.json()["verdict"])


async def checkout_extras(
    *, shipping_url: str, fraud_url: str, country: str, amount: str
) -> Extras:
    """Ask the shipping service and the fraud check at the same time.

    Args:
        shipping_url: The shipping service's base URL.
        fraud_url: The fraud check's base URL.
        country: Where to ship, a 2-letter code.
        amount: The order's total, a decimal string.

    Returns:
        Both answers; a partner that failed or took too long shows as ``None`` or ``unknown``.
    """
    async with httpx.AsyncClient(timeout=PARTNER_TIMEOUT) as client:
        days, verdict = await asyncio.gather(
            _shipping_days(client, shipping_url, country=country),
            _fraud_verdict(client, fraud_url, amount=amount),
            return_exceptions=True,  # one failing partner must not sink the other's answer
        )
    return Extras(
        shipping_days=_answer("the shipping service", days),
        fraud_verdict=_answer("the fraud check", verdict) or "unknown",
    )
