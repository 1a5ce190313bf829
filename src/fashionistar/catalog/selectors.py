"""Catalog reads: search, filter and sort, one lazy queryset for both APIs."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from fashionistar.catalog.models import CURRENCIES, Product, Variant
from fashionistar.kernel.errors import ApplicationError, NotFound

SORTS = {
    "name": ("name", "pk"),
    "-name": ("-name", "-pk"),
    "price": ("price", "pk"),
    "-price": ("-price", "-pk"),
    "newest": ("-created_at", "-pk"),
}
"""Sort keys the APIs accept, each ending on pk so that pages never overlap."""


class InvalidQuery(ApplicationError):
    """A catalog query the shop does not understand."""

    code = "invalid_query"


# --8<-- [start:product_list]
def product_list(
    *,
    search: str = "",
    category: str = "",
    currency: str = "",
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    sort: str = "name",
) -> QuerySet[Product]:
    """Return active products matching the filters, with category and variants loaded.

    Args:
        search: Words to find in the name or description (case-insensitive), each one
            anywhere in ``search_text``.
        category: A category slug.
        currency: Only prices in this currency.
        min_price: Lowest price, inclusive.
        max_price: Highest price, inclusive.
        sort: One of :data:`SORTS`.

    Returns:
        A lazy queryset: sync code iterates it, async code uses ``async for`` or
        ``AsyncPaginator``.

    Raises:
        InvalidQuery: An unknown sort or currency, or a price range that is empty.
    """
    if sort not in SORTS:
        raise InvalidQuery(f"Unknown sort {sort!r}.", extra={"allowed": sorted(SORTS)})
    if currency and currency not in CURRENCIES:
        raise InvalidQuery(f"Unknown currency {currency!r}.", extra={"allowed": list(CURRENCIES)})
    if min_price is not None and max_price is not None and min_price > max_price:
        raise InvalidQuery("min_price is greater than max_price.")
    products = Product.objects.filter(is_active=True)
    for word in search.split():  # search_text holds the name and description, case-folded
        products = products.filter(search_text__contains=word.casefold())
    if category:
        products = products.filter(category__slug=category)
    if currency:
        products = products.filter(currency=currency)
    if min_price is not None:
        products = products.filter(price__gte=min_price)
    if max_price is not None:
        products = products.filter(price__lte=max_price)
    variants = Variant.objects.select_related("stock").order_by("pk")
    return (
        products.select_related("category")
        .prefetch_related(Prefetch("variants", queryset=variants))
        .order_by(*SORTS[sort])
    )


# --8<-- [end:product_list]


def product_get(*, slug: str) -> Product:
    """Return one active product by slug.

    Args:
        slug: The product's slug.

    Returns:
        The product, with category and variants loaded.

    Raises:
        NotFound: No active product has that slug.
    """
    product = product_list().filter(slug=slug).first()
    if product is None:
        raise NotFound("Product not found.", extra={"slug": slug})
    return product


async def aproduct_get(*, slug: str) -> Product:
    """Async twin of :func:`product_get`.

    Args:
        slug: The product's slug.

    Returns:
        The product.

    Raises:
        NotFound: No active product has that slug.
    """
    product = await product_list().filter(slug=slug).afirst()
    if product is None:
        raise NotFound("Product not found.", extra={"slug": slug})
    return product
