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


# --8<-- [start:search_text]
def product_search_text(*, name: str, description: str) -> str:
    """Fold a product's name and description into the text the catalog search reads.

    Args:
        name: The product's name.
        description: Its description.

    Returns:
        The words, case-folded, one space apart.
    """
    return " ".join(f"{name} {description}".split()).casefold()


@transaction.atomic
def product_search_text_backfill(*, batch_size: int) -> int:
    """Fill ``search_text`` of the next products that have none, one batch.

    Rows are locked with ``SKIP LOCKED``: two backfills running at once take different rows.

    Args:
        batch_size: Products per batch.

    Returns:
        How many products were filled (fewer than ``batch_size``: none is left).
    """
    products = list(
        Product.objects.filter(search_text__isnull=True)
        .order_by("pk")
        .select_for_update(skip_locked=True)
        .only("pk", "name", "description")[:batch_size]
    )
    for product in products:
        product.search_text = product_search_text(
            name=product.name, description=product.description
        )
    Product.objects.bulk_update(products, ["search_text"])
    return len(products)


# --8<-- [end:search_text]


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
        search_text=product_search_text(name=name, description=description),
    )
    product.full_clean()
    product.save()
    for spec in variants:
        variant = Variant.objects.create(
            product=product, sku=spec.sku, size=spec.size, colour=spec.colour
        )
        stock_set(variant_id=variant.pk, quantity=spec.stock)
    return product
