"""The card gateway client: one charge call over HTTP, sync and async, with hard timeouts.

Both variants build the request with :meth:`ChargeRequest.http_request` and read the answer with
:func:`read_charge_response`, so they cannot drift apart. The base URL is the Django setting
``PAYMENT_GATEWAY_URL``. Every charge carries an ``Idempotency-Key`` header: a retry with the
same key cannot charge twice at the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from fashionistar.kernel.errors import ApplicationError
from fashionistar.kernel.partners import partner_tls

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
"""Connect within 2 s, then at most 5 s for each read or write: a slow gateway never hangs us."""

CHARGES_PATH = "/v1/charges"


class GatewayUnavailable(ApplicationError):
    """The gateway did not answer in time, failed (5xx) or answered something unexpected.

    Whether money moved is unknown: retry with the same idempotency key.
    """

    status_code = 503
    code = "payment_gateway_unavailable"


class PaymentDeclined(ApplicationError):
    """The gateway declined the card. Retrying the same card will not help."""

    status_code = 402
    code = "payment_declined"


@dataclass(frozen=True)
class GatewayCharge:
    """A charge the gateway made.

    Attributes:
        charge_id: The gateway's id (``ch_...``).
        status: ``succeeded``.
        amount: The amount charged.
        currency: Its currency.
        replayed: The gateway replayed a charge it made for an earlier try with the same key.
    """

    charge_id: str
    status: str
    amount: Decimal
    currency: str
    replayed: bool


def gateway_base_url() -> str:
    """Return the gateway's base URL from the ``PAYMENT_GATEWAY_URL`` setting.

    Returns:
        The URL, without a trailing slash.

    Raises:
        ImproperlyConfigured: The setting is empty or not an ``http(s)://`` URL.
    """
    url: str = getattr(settings, "PAYMENT_GATEWAY_URL", "")
    if not url.startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"PAYMENT_GATEWAY_URL must be an http(s) URL, got {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True)
class ChargeRequest:
    """One charge to ask the gateway for.

    Attributes:
        amount: The amount, from the order, never from the client.
        currency: ISO 4217 code.
        card_token: The tokenised card.
        reference: Our reference for the charge (the order), shown in the gateway's records.
        idempotency_key: Sent as ``Idempotency-Key``: the same key never charges twice.
    """

    amount: Decimal
    currency: str
    card_token: str
    reference: str
    idempotency_key: str

    def http_request(
        self, *, base_url: str | None = None, timeout: httpx.Timeout = DEFAULT_TIMEOUT
    ) -> httpx.Request:
        """Build the ``POST /v1/charges`` request that both client variants send.

        Args:
            base_url: The gateway; the ``PAYMENT_GATEWAY_URL`` setting by default.
            timeout: Connect, read and write limits.

        Returns:
            The request, its timeouts attached.
        """
        return httpx.Request(
            "POST",
            f"{base_url or gateway_base_url()}{CHARGES_PATH}",
            json={
                "amount": str(self.amount),
                "currency": self.currency,
                "card_token": self.card_token,
                "reference": self.reference,
            },
            headers={"Idempotency-Key": self.idempotency_key, "Accept": "application/json"},
            extensions={"timeout": timeout.as_dict()},
        )


def read_charge_response(response: httpx.Response) -> GatewayCharge:
    """Turn the gateway's answer into a charge or a domain error.

    Args:
        response: The gateway's answer to a charge request.

    Returns:
        The charge (status ``201``).

    Raises:
        PaymentDeclined: ``402``.
        GatewayUnavailable: Any other status, or a body that is not a charge.
    """
    if response.status_code == 402:
        raise PaymentDeclined("The card was declined.", extra={"reason": "declined"})
    if response.status_code != 201:
        raise GatewayUnavailable(
            "The payment gateway failed; retry with the same idempotency key.",
            extra={"gateway_status": response.status_code},
        )
    try:
        body: dict[str, Any] = response.json()
        return GatewayCharge(
            charge_id=str(body["id"]),
            status=str(body["status"]),
            amount=Decimal(body["amount"]),
            currency=str(body["currency"]),
            replayed=response.headers.get("Idempotent-Replayed") == "true",
        )
    except (ValueError, KeyError, TypeError, ArithmeticError) as error:
        raise GatewayUnavailable(
            "The payment gateway answered something that is not a charge.",
            extra={"gateway_status": response.status_code},
        ) from error


def _unavailable(error: httpx.TransportError) -> GatewayUnavailable:
    kind = "timeout" if isinstance(error, httpx.TimeoutException) else "transport"
    return GatewayUnavailable(
        "The payment gateway did not answer; retry with the same idempotency key.",
        extra={"reason": kind},
    )


# --8<-- [start:gateway_charge]
def gateway_charge(
    *, charge: ChargeRequest, base_url: str | None = None, timeout: httpx.Timeout = DEFAULT_TIMEOUT
) -> GatewayCharge:
    """Charge a card. Never call this inside a database transaction: it waits on the network.

    Args:
        charge: What to charge, and under which idempotency key.
        base_url: The gateway; the ``PAYMENT_GATEWAY_URL`` setting by default.
        timeout: Connect, read and write limits.

    Returns:
        The charge.

    Raises:
        PaymentDeclined: The card was declined.
        GatewayUnavailable: Timeout, connection error, 5xx or an unexpected answer.
    """
    request = charge.http_request(base_url=base_url, timeout=timeout)
    try:
        with httpx.Client(verify=partner_tls()) as client:
            response = client.send(request)
    except httpx.TransportError as error:
        raise _unavailable(error) from error
    return read_charge_response(response)


# --8<-- [end:gateway_charge]
