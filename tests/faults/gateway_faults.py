"""A card gateway that fails or is slow while a customer pays, through one API; then a retry.

Used by ``tests/faults/test_gateway.py`` and ``benchmarks/faults.py``: the customer places an
order, pays it while a fake gateway (``fashionistar_dev.partners``, in a thread) fails
or answers after the client's timeout, the gateway gets well, and the customer retries with the
same ``Idempotency-Key``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from fashionistar.payments.gateway import DEFAULT_TIMEOUT
from fashionistar.payments.models import Payment, PaymentStatus
from fashionistar_dev.partners import serve_in_thread
from tests.api_support import Answer, call, token_for
from tests.factories import make_product, make_user, variant_of
from tests.payments.helpers import charges_made

READ_TIMEOUT_S = DEFAULT_TIMEOUT.read or 0.0
SLOWER_THAN_TIMEOUT_MS = int(READ_TIMEOUT_S * 1000) + 500
CARD = {"card_token": "tok_visa"}
KEY = "pay-1"


@dataclass(frozen=True)
class GatewayFault:
    """What the customer saw, and what the gateway and the database hold after the retry.

    Attributes:
        first: The answer while the gateway failed or was slow.
        first_s: How long it took.
        retry: The answer to the retry with the same key.
        recovery_s: From the gateway being well again (and done with a slow charge) until
            the retry's answer.
        charges: Charges the gateway made for the order.
        payment: ``(status, gateway charge id)`` of the order's one payment row.
    """

    first: Answer
    first_s: float
    retry: Answer
    recovery_s: float
    charges: int
    payment: tuple[str, str]


def _pay(api: str, token: str, order_id: int) -> tuple[Answer, float]:
    started = time.monotonic()
    answer = call(
        api,
        "post",
        f"orders/{order_id}/pay",
        token=token,
        body=CARD,
        headers={"Idempotency-Key": KEY},
    )
    return answer, time.monotonic() - started


def gateway_fault(*, api: str, failure_rate: float = 0.0, latency_ms: int = 0) -> GatewayFault:
    """Pay an order through ``api`` while the gateway is unwell, then retry once it is well.

    Args:
        api: ``SYNC`` or ``ASYNC``.
        failure_rate: The gateway's share of ``503`` answers while unwell.
        latency_ms: How long it takes to answer while unwell.

    Returns:
        What happened.
    """
    token = token_for(make_user())
    dress = variant_of(make_product(price="30.00", stock=5))
    items = [{"variant_id": dress.pk, "quantity": 1}]
    placed = call(api, "post", "orders", token=token, body={"items": items})
    order_id = int(placed.body["id"])
    saved_url = settings.PAYMENT_GATEWAY_URL
    with serve_in_thread(failure_rate=failure_rate, latency_ms=latency_ms) as server:
        settings.PAYMENT_GATEWAY_URL = server.url
        try:
            first, first_s = _pay(api, token, order_id)
            server.state.failure_rate, server.state.latency_s = 0.0, 0.0  # well again
            if latency_ms:
                time.sleep(latency_ms / 1000 - first_s + 0.5)  # the charge nobody waited for
            healed = time.monotonic()
            retry, _ = _pay(api, token, order_id)
            recovery_s = time.monotonic() - healed
            charges = charges_made(server)
        finally:
            settings.PAYMENT_GATEWAY_URL = saved_url
    payment = Payment.objects.get(order_id=order_id)
    return GatewayFault(
        first=first,
        first_s=first_s,
        retry=retry,
        recovery_s=recovery_s,
        charges=charges,
        payment=(payment.status, payment.gateway_charge_id),
    )


def gateway_anomalies(fault: GatewayFault) -> list[str]:
    """List what went wrong: anything but a 503 then one charge, paid, within the timeout.

    Args:
        fault: A run of :func:`gateway_fault`.

    Returns:
        The anomalies (empty: none).
    """
    anomalies = []
    code = fault.first.body.get("code") if isinstance(fault.first.body, dict) else None
    if (fault.first.status, code) != (503, "payment_gateway_unavailable"):
        anomalies.append(f"first answer {fault.first.status} {code}")
    if fault.first_s > READ_TIMEOUT_S + 1.0:
        anomalies.append(f"first answer after {fault.first_s:.1f} s")
    if fault.retry.status != 201:
        anomalies.append(f"retry answered {fault.retry.status}")
    if fault.charges != 1:
        anomalies.append(f"{fault.charges} charges at the gateway")
    if fault.retry.status == 201 and fault.payment != (
        PaymentStatus.SUCCEEDED,
        fault.retry.body["gateway_charge_id"],
    ):
        anomalies.append(f"payment row {fault.payment}")
    return anomalies
