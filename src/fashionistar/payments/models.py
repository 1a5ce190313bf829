"""Payment models: a payment of an order, and the idempotency keys that make retries safe."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.db import models

from fashionistar.orders.models import Order


class IdempotencyKeyState(models.TextChoices):
    """Where the request behind a key is."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


# --8<-- [start:idempotency_key_model]
class IdempotencyKey(models.Model):
    """One client request, by the ``Idempotency-Key`` it came with, and its stored response.

    The unique constraint on ``(user, key)``, not a look-up before the insert, makes sure two
    concurrent requests with one key cannot both run: the service inserts first, and the loser
    of the race reads the winner's row.

    Attributes:
        fingerprint: sha256 of the canonical JSON of the request; another body with the same
            key is refused (422).
        locked_at: When the request running under this key started (or took it over); ``None``
            once it completed, or after a failure that may be retried with the same key.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_keys"
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(
        max_length=16, choices=IdempotencyKeyState.choices, default=IdempotencyKeyState.IN_PROGRESS
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        """One row per user and key, enforced by the database."""

        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user"),
            models.CheckConstraint(
                condition=models.Q(state__in=IdempotencyKeyState.values),
                name="idempotency_key_state_known",
            ),
            models.CheckConstraint(
                condition=models.Q(state=IdempotencyKeyState.IN_PROGRESS)
                | models.Q(response_status__isnull=False),
                name="idempotency_key_completed_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"Idempotency key {self.key!r} ({self.state})"


# --8<-- [end:idempotency_key_model]


class PaymentStatus(models.TextChoices):
    """Where a payment is."""

    PENDING = "pending"
    """Sent (or about to be sent) to the gateway; the outcome is not known yet."""
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    REFUND_DUE = "refund_due"
    """Charged, but the order could no longer be paid (cancelled meanwhile): give it back."""


class Payment(models.Model):
    """A charge of an order's total at the card gateway.

    At most one payment per order is pending or succeeded (a partial unique constraint): two
    requests with different idempotency keys cannot charge one order twice.

    Attributes:
        gateway_key: The ``Idempotency-Key`` sent to the gateway. It lives on the row, so every
            retry of this payment sends the same one and the gateway charges once.
    """

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    idempotency_key = models.OneToOneField(
        IdempotencyKey, on_delete=models.PROTECT, related_name="payment"
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    gateway_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    gateway_charge_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        """At most one pending or succeeded payment per order."""

        ordering = ("-created_at", "-pk")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(status__in=["pending", "succeeded"]),
                name="payment_one_active_per_order",
            ),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="payment_amount_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PaymentStatus.values), name="payment_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.pk} of order {self.order_id} ({self.status})"
