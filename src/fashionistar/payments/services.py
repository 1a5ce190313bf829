"""Payment writes: charge an order once, however often the client retries.

:func:`payment_charge` follows the IETF draft ``draft-ietf-httpapi-idempotency-key-header``
(its errors are in :mod:`fashionistar.kernel.idempotency`):

- no key, or a malformed one: ``400``;
- the same key with another request: ``422``;
- the same key while the first request still runs: ``409``;
- the same key and request after it completed: the stored first response, replayed (a failure
  such as a declined card or an unknown order too).

Two answers are not stored, so that a retry with the same key runs again: a request that fails
validation (``400``) and a gateway that did not answer (``503``: whether money moved is unknown,
and the retry sends the gateway the same key, so it cannot charge twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from fashionistar.accounts.models import User
from fashionistar.kernel.errors import ApplicationError, NotFound
from fashionistar.kernel.idempotency import (
    IdempotencyKeyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    canonical_fingerprint,
    key_validate,
)
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.orders.services import order_mark_paid
from fashionistar.payments.gateway import (
    ChargeRequest,
    GatewayCharge,
    GatewayUnavailable,
    PaymentDeclined,
    gateway_charge,
)
from fashionistar.payments.models import (
    IdempotencyKey,
    IdempotencyKeyState,
    Payment,
    PaymentStatus,
)

__all__ = [
    "ChargeOutcome",
    "GatewayUnavailable",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyInvalid",
    "IdempotencyKeyMissing",
    "IdempotencyKeyReused",
    "InvalidPayment",
    "OrderNotPayable",
    "PaymentDeclined",
    "payment_charge",
    "request_fingerprint",
]

MAX_CARD_TOKEN_LENGTH = 255
KEY_LEASE = timedelta(seconds=60)
"""A request that holds a key longer than this is presumed dead (its process crashed): a retry
with the same key takes the key over. Far longer than the gateway's timeouts."""


class InvalidPayment(ApplicationError):
    """The request body cannot be a charge (no card token, not JSON)."""

    code = "invalid_payment"


class OrderNotPayable(ApplicationError):
    """The order is not waiting for a payment (paid, cancelled, or a payment is under way)."""

    status_code = 409
    code = "order_not_payable"


@dataclass(frozen=True)
class ChargeOutcome:
    """The response to a charge request: the one stored under its idempotency key.

    Attributes:
        status_code: The HTTP status: ``201`` charged, ``402`` declined, ``404`` no such order of
            the user's, ``409`` the order cannot be paid.
        body: The JSON body: the payment on ``201``, ``{"code", "message", "extra"}`` otherwise.
        replayed: This is a stored response, replayed for a retry (the APIs may send an
            ``Idempotent-Replayed: true`` header).
    """

    status_code: int
    body: dict[str, Any]
    replayed: bool = False


def _key_validate(key: str | None) -> str:
    if key is None:
        raise IdempotencyKeyMissing("An Idempotency-Key header is required to charge.")
    return key_validate(key)


def _card_token(payload: dict[str, Any]) -> str:
    token = payload.get("card_token")
    if not isinstance(token, str) or not 0 < len(token) <= MAX_CARD_TOKEN_LENGTH:
        raise InvalidPayment(
            "card_token must be a non-empty string.", extra={"field": "card_token"}
        )
    return token


def request_fingerprint(*, order_id: int, payload: dict[str, Any]) -> str:
    """Return the sha256 of the request's canonical JSON: the order and the body.

    Canonical means sorted keys and no spaces, so the same request always has the same
    fingerprint, whatever order the client wrote its fields in.

    Args:
        order_id: The order being paid (it may come from the URL rather than the body).
        payload: The request body.

    Returns:
        64 hex digits.

    Raises:
        InvalidPayment: The body cannot be written as JSON.
    """
    try:
        return canonical_fingerprint({"order_id": order_id, "body": payload})
    except (TypeError, ValueError) as error:
        raise InvalidPayment("The request body is not plain JSON.") from error


def _replay(record: IdempotencyKey) -> ChargeOutcome:
    if record.response_status is None or not isinstance(record.response_body, dict):
        raise ValueError(f"{record} is completed without a stored response")  # constraint
    return ChargeOutcome(record.response_status, record.response_body, replayed=True)


# --8<-- [start:key_claim]
def _key_claim(
    *, user: User, key: str, fingerprint: str, now: datetime
) -> IdempotencyKey | ChargeOutcome:
    """Take the key for this request, or say why not.

    Insert first and let the unique constraint decide; only the loser reads the row.

    Returns:
        The key row, ours to run the request under, or the stored response to replay.

    Raises:
        IdempotencyKeyReused: The key came with another request.
        IdempotencyKeyInFlight: Another request runs under the key.
    """
    try:
        with transaction.atomic(durable=True):
            return IdempotencyKey.objects.create(
                user=user, key=key, fingerprint=fingerprint, locked_at=now
            )
    except IntegrityError:
        pass  # The key exists: read what happened to it.
    existing = IdempotencyKey.objects.get(user=user, key=key)
    if existing.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used with another request; use a new key.",
        )
    if existing.state == IdempotencyKeyState.COMPLETED:
        return _replay(existing)
    # In progress: take it over only if released after a retryable failure, or left stale by a
    # crash. The conditional UPDATE lets exactly one of several retries win.
    taken = (
        IdempotencyKey.objects.filter(pk=existing.pk, state=IdempotencyKeyState.IN_PROGRESS)
        .filter(Q(locked_at__isnull=True) | Q(locked_at__lt=now - KEY_LEASE))
        .update(locked_at=now)
    )
    if not taken:
        raise IdempotencyKeyInFlight(
            "A request with this Idempotency-Key is still in progress; retry later.",
        )
    existing.locked_at = now
    return existing


# --8<-- [end:key_claim]


def _complete(
    *,
    record: IdempotencyKey,
    status_code: int,
    body: dict[str, Any],
    payment: Payment | None = None,
    payment_status: PaymentStatus | None = None,
    charge: GatewayCharge | None = None,
) -> ChargeOutcome:
    """Store the response under the key and settle the payment, in one short transaction.

    A successful charge also marks the order paid here; if the order can no longer be paid
    (cancelled meanwhile), the payment is kept as ``refund_due`` and the answer is ``409``.
    """
    with transaction.atomic(durable=True):
        locked = IdempotencyKey.objects.select_for_update().get(pk=record.pk)
        if locked.state == IdempotencyKeyState.COMPLETED:
            # A retry that took the key over (stale lease) finished first: answer as it did.
            return _replay(locked)
        if payment is not None and charge is not None:
            try:
                with transaction.atomic():
                    order_mark_paid(order_id=payment.order_id)
            except ApplicationError as error:
                payment_status = PaymentStatus.REFUND_DUE
                status_code = OrderNotPayable.status_code
                body = OrderNotPayable(
                    "The order could not be paid; the charge will be refunded.",
                    extra={"order_id": payment.order_id, "reason": error.code},
                ).as_dict()
            payment.gateway_charge_id = charge.charge_id
        if payment is not None and payment_status is not None:
            payment.status = payment_status
            payment.save(update_fields=["status", "gateway_charge_id", "updated_at"])
        locked.state = IdempotencyKeyState.COMPLETED
        locked.response_status = status_code
        locked.response_body = body
        locked.locked_at = None
        locked.save(update_fields=["state", "response_status", "response_body", "locked_at"])
    return ChargeOutcome(status_code, body)


def _payment_body(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.pk,
        "order_id": payment.order_id,
        "status": PaymentStatus.SUCCEEDED.value,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "gateway_charge_id": payment.gateway_charge_id,
    }


def _charge_under_key(
    *, record: IdempotencyKey, user: User, order_id: int, card_token: str
) -> ChargeOutcome:
    order = Order.objects.filter(pk=order_id, user=user).first()
    if order is None:
        error: ApplicationError = NotFound("Order not found.", extra={"order_id": order_id})
        return _complete(record=record, status_code=error.status_code, body=error.as_dict())
    payment = Payment.objects.filter(idempotency_key=record).first()  # set on a takeover
    if payment is None:
        if order.status != OrderStatus.PLACED:
            error = OrderNotPayable(
                f"An order that is {order.status} cannot be paid.",
                extra={"order_id": order.pk, "status": order.status},
            )
            return _complete(record=record, status_code=error.status_code, body=error.as_dict())
        try:
            with transaction.atomic(durable=True):
                payment = Payment.objects.create(
                    order=order, idempotency_key=record, amount=order.total, currency=order.currency
                )
        except IntegrityError:  # payment_one_active_per_order
            error = OrderNotPayable(
                "A payment of this order is already under way or done.",
                extra={"order_id": order.pk},
            )
            return _complete(record=record, status_code=error.status_code, body=error.as_dict())
    # No transaction is open here: the gateway call may take seconds, and nothing is locked.
    try:
        charge = gateway_charge(
            charge=ChargeRequest(
                amount=payment.amount,
                currency=payment.currency,
                card_token=card_token,
                reference=f"order-{order.pk}",
                idempotency_key=str(payment.gateway_key),
            )
        )
    except PaymentDeclined as declined:
        declined.extra.update(order_id=order.pk, payment_id=payment.pk)
        return _complete(
            record=record,
            status_code=declined.status_code,
            body=declined.as_dict(),
            payment=payment,
            payment_status=PaymentStatus.DECLINED,
        )
    payment.gateway_charge_id = charge.charge_id
    return _complete(
        record=record,
        status_code=201,
        body=_payment_body(payment),
        payment=payment,
        payment_status=PaymentStatus.SUCCEEDED,
        charge=charge,
    )


# --8<-- [start:idempotent_charge]
def payment_charge(
    *,
    user: User,
    order_id: int,
    idempotency_key: str | None,
    payload: dict[str, Any],
    now: datetime | None = None,
) -> ChargeOutcome:
    """Charge an order's total to a card, at most once per idempotency key.

    Call it outside any transaction: it opens its own short ones, and none is open while it
    waits for the gateway. The amount is the order's total; an ``amount`` in the payload is
    ignored (it still counts for the fingerprint).

    Args:
        user: The customer; the order must be theirs.
        order_id: The order to pay.
        idempotency_key: The request's ``Idempotency-Key`` header (``None`` when absent).
        payload: The request body: ``{"card_token": "tok_visa"}``.
        now: The current time (for tests); ``timezone.now()`` by default.

    Returns:
        The response stored under the key, replayed for a retry: ``201`` with the payment,
        ``402`` declined, ``404`` no such order of the user's, or ``409`` the order cannot be
        paid.

    Raises:
        IdempotencyKeyMissing: No key (400).
        IdempotencyKeyInvalid: A malformed key (400).
        InvalidPayment: The payload is not a charge (400); nothing is stored.
        IdempotencyKeyReused: The key came with another request before (422).
        IdempotencyKeyInFlight: The first request with the key still runs (409).
        GatewayUnavailable: The gateway did not answer (503); nothing is stored, retry with
            the same key.
    """
    key = _key_validate(idempotency_key)
    card_token = _card_token(payload)
    fingerprint = request_fingerprint(order_id=order_id, payload=payload)
    started = now or timezone.now()
    claimed = _key_claim(user=user, key=key, fingerprint=fingerprint, now=started)
    if isinstance(claimed, ChargeOutcome):
        return claimed
    try:
        return _charge_under_key(
            record=claimed, user=user, order_id=order_id, card_token=card_token
        )
    except BaseException:
        # GatewayUnavailable (or a bug): release the key so that a retry runs again; the
        # payment stays pending with its gateway key, so the retry cannot charge twice.
        IdempotencyKey.objects.filter(
            pk=claimed.pk, state=IdempotencyKeyState.IN_PROGRESS, locked_at=started
        ).update(locked_at=None)
        raise


# --8<-- [end:idempotent_charge]
