"""Catalog writes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import transaction
from redis.exceptions import RedisError

from fashionistar.catalog.models import Category, Product, Variant
from fashionistar.catalog.selectors import CATALOG_VERSION
from fashionistar.inventory.services import stock_set

logger = logging.getLogger(__name__)


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


# --8<-- [start:catalog_changed]
def catalog_changed() -> None:
    """Move the catalog's version on: every cached catalog answer is stale from now on."""
    try:
        cache.incr(CATALOG_VERSION)
    except ValueError:  # no version yet (an empty or flushed cache): a new one
        cache.set(CATALOG_VERSION, 2, timeout=None)
    except RedisError:
        logger.warning("Catalog version not moved on: Redis did not answer", exc_info=True)


def catalog_row_written(**_: Any) -> None:
    """A catalog or stock row was saved or deleted: make the cached answers stale.

    Now, and again at the commit, so that an answer rebuilt from the old rows meanwhile (by a
    request that does not see this transaction's rows yet) is not kept.
    """
    catalog_changed()
    transaction.on_commit(catalog_changed)


# --8<-- [end:catalog_changed]
