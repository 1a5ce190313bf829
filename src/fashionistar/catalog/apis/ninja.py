"""Catalog, async API (Ninja): list and show products. Public."""

from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, P, PathEx, Query, Router, Schema

from fashionistar.catalog.models import Product, Variant
from fashionistar.catalog.selectors import acatalog_cached, aproduct_get, product_list
from fashionistar.kernel.apis import SLUG_PATTERN
from fashionistar.kernel.apis.ninja import (
    Money,
    Page,
    PageQuery,
    Text,
    apaginate,
    async_throttle,
    responses,
)

router = Router(tags=["catalog"])


class CategoryOut(Schema):
    """A product's category."""

    slug: str
    name: str


class VariantOut(Schema):
    """One size and colour, with the units left."""

    id: int
    sku: str
    size: str
    colour: str
    available: int


class ProductOut(Schema):
    """A product as both APIs show it."""

    id: int
    slug: str
    name: str
    description: str
    category: CategoryOut
    price: Money
    currency: str
    variants: list[VariantOut]


class ProductFilters(PageQuery):
    """Query parameters of the product list."""

    search: Text = Field("", max_length=200)
    category: Text = Field("", max_length=200)
    currency: Text = Field("", max_length=200)
    min_price: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=2)
    max_price: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=2)
    sort: Text = Field("name", max_length=200)


def _variant_out(variant: Variant) -> VariantOut:
    stock = getattr(variant, "stock", None)  # a variant without a stock row has none
    return VariantOut(
        id=variant.pk,
        sku=variant.sku,
        size=variant.size,
        colour=variant.colour,
        available=stock.quantity if stock is not None else 0,
    )


def product_out(product: Product) -> ProductOut:
    """Build the schema of a product whose category and variants are loaded.

    Args:
        product: The product (from a catalog selector).

    Returns:
        The schema.
    """
    return ProductOut(
        id=product.pk,
        slug=product.slug,
        name=product.name,
        description=product.description,
        category=CategoryOut(slug=product.category.slug, name=product.category.name),
        price=product.price,
        currency=product.currency,
        variants=[_variant_out(v) for v in product.variants.all()],
    )


# --8<-- [start:ninja_product_list]
@router.get(
    "/catalog/products", response=responses({200: Page[ProductOut]}, 404), url_name="product-list"
)
@async_throttle
async def product_list_op(request: HttpRequest, filters: Query[ProductFilters]) -> dict[str, Any]:
    """List active products, one page (``AsyncPaginator``).

    Args:
        request: The request.
        filters: Search, filters, sort and page.

    Returns:
        ``{"count", "page", "page_size", "results"}``.
    """

    async def build() -> dict[str, Any]:
        products = product_list(
            search=filters.search,
            category=filters.category,
            currency=filters.currency,
            min_price=filters.min_price,
            max_price=filters.max_price,
            sort=filters.sort,
        )
        page = await apaginate(
            products, page=filters.page, page_size=filters.page_size, serialize=product_out
        )
        return page.model_dump(mode="json")

    return await acatalog_cached(kind="ninja-list", parts=filters.model_dump(), build=build)


# --8<-- [end:ninja_product_list]


@router.get(
    "/catalog/products/{slug}",
    response=responses({200: ProductOut}, 404),
    url_name="product-detail",
)
@async_throttle
async def product_detail_op(
    request: HttpRequest, slug: PathEx[str, P(pattern=SLUG_PATTERN, max_length=200)]
) -> dict[str, Any]:
    """Show one active product.

    Args:
        request: The request.
        slug: The product's slug.

    Returns:
        The product.
    """

    async def build() -> dict[str, Any]:
        return product_out(await aproduct_get(slug=slug)).model_dump(mode="json")

    return await acatalog_cached(kind="ninja-detail", parts={"slug": slug}, build=build)
