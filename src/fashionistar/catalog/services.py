"""Catalog writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from fashionistar.catalog.models import Category, Product, Variant
from fashionistar.inventory.services import stock_set


@dataclass(frozen=True)
class VariantSpec:
    """A variant to create, with its opening stock.

    Attributes:
        sku: Stock keeping unit, unique.
        size: Size label.
        colour: Colour name.
        stock: Units on hand.
    """

    sku: str
    size: str
    colour: str
    stock: int = 0


@transaction.atomic
def product_create(
    *,
    category: Category,
    name: str,
    slug: str,
    price: Decimal,
    currency: str,
    variants: Sequence[VariantSpec],
    description: str = "",
) -> Product:
    """Create a product with its variants and their stock.

    Args:
        category: Its category.
        name: Display name.
        slug: URL name, unique.
        price: Unit price, positive.
        currency: ISO code (EUR, USD, GBP).
        variants: Sizes and colours with opening stock.
        description: Longer text.

    Returns:
        The product.
    """
    product = Product(
        category=category,
        name=name,
        slug=slug,
        price=price,
        currency=currency,
        description=description,
    )
    product.full_clean()
    product.save()
    for spec in variants:
        variant = Variant.objects.create(
            product=product, sku=spec.sku, size=spec.size, colour=spec.colour
        )
        stock_set(variant_id=variant.pk, quantity=spec.stock)
    return product
