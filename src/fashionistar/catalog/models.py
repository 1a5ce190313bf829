"""Catalog models: a product has a price in one currency and variants by size and colour."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

CURRENCIES = ("EUR", "USD", "GBP")


class Category(models.Model):
    """A shelf of the shop."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """Something we sell, in one or more variants."""

    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    currency = models.CharField(max_length=3, choices=[(c, c) for c in CURRENCIES])
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Name and description folded for search (catalog.services.product_search_text). Added
    # nullable and backfilled by a task (migration 0002), then made NOT NULL (0003): the
    # expand/contract example of docs/operations/migrations.md.
    search_text = models.TextField(editable=False)

    class Meta:
        ordering = ("name", "pk")
        constraints = [
            models.CheckConstraint(condition=models.Q(price__gt=0), name="product_price_positive"),
            models.CheckConstraint(
                condition=models.Q(currency__in=CURRENCIES), name="product_currency_known"
            ),
        ]
        indexes = [models.Index(fields=["category", "price"])]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """One size and colour of a product; the unit stock is kept for."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField(max_length=64, unique=True)
    size = models.CharField(max_length=16)
    colour = models.CharField(max_length=32)

    class Meta:
        ordering = ("product", "pk")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "size", "colour"], name="variant_unique_size_colour"
            )
        ]

    def __str__(self) -> str:
        return self.sku
