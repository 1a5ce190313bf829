"""Inventory models: units on hand per variant, and what each order holds."""

from __future__ import annotations

from django.db import models

from fashionistar.catalog.models import Variant


class Stock(models.Model):
    """Units of a variant that can still be sold. Never negative: the database refuses it."""

    variant = models.OneToOneField(Variant, on_delete=models.CASCADE, related_name="stock")
    quantity = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="stock_quantity_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.variant_id}: {self.quantity}"


class Reservation(models.Model):
    """Units an order took from stock; releasing it gives them back once."""

    order = models.ForeignKey("orders.Order", on_delete=models.CASCADE, related_name="reservations")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="reservation_positive"),
            models.UniqueConstraint(
                fields=["order", "variant"], name="reservation_one_per_variant"
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id}: {self.quantity} x {self.variant_id}"
