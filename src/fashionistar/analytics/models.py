"""Facts for reporting, written by tasks on the ``analytics`` queue."""

from __future__ import annotations

from django.db import models


class OrderFact(models.Model):
    """One placed order, as reporting sees it: one row per order, whatever the retries."""

    order = models.OneToOneField("orders.Order", on_delete=models.CASCADE, related_name="fact")
    placed_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    total = models.DecimalField(max_digits=12, decimal_places=2)
    units = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"fact of order {self.order_id}"
