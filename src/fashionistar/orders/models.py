"""Order models: an order, its lines, and the status machine."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from fashionistar.catalog.models import CURRENCIES, Variant


class OrderStatus(models.TextChoices):
    """Where an order is in its life."""

    PLACED = "placed"
    PAID = "paid"
    CANCELLED = "cancelled"
    SHIPPED = "shipped"


ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PLACED: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.SHIPPED: frozenset(),
}
"""The status machine: from each status, the statuses an order may move to."""


class Order(models.Model):
    """A customer's order. Its total is computed by the service that places it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    currency = models.CharField(max_length=3, choices=[(c, c) for c in CURRENCIES])
    total = models.DecimalField(max_digits=12, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True, default="", db_default="")
    """The ``Idempotency-Key`` it was placed with; empty if the client sent none."""
    request_fingerprint = models.CharField(max_length=64, blank=True, default="", db_default="")
    """sha256 of the items asked for, to tell a retry from another order under the same key."""

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="order_idempotency_key_unique_per_user",
            ),
            models.CheckConstraint(condition=models.Q(total__gt=0), name="order_total_positive"),
            models.CheckConstraint(
                condition=models.Q(status__in=OrderStatus.values), name="order_status_known"
            ),
        ]

    def __str__(self) -> str:
        return f"Order {self.pk} ({self.status})"


class OrderLine(models.Model):
    """One variant in an order, at the price it had when the order was placed."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    line_total = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ("pk",)
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gt=0), name="order_line_quantity_positive"
            ),
            models.UniqueConstraint(fields=["order", "variant"], name="order_line_one_per_variant"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.variant_id}"
