"""Catalog, async API (Ninja): list and show products. Public."""

from decimal import Decimal
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, P, PathEx, Query, Router, Schema
from pydantic import AfterValidator, WithJsonSchema

from fashionistar.catalog.apis import CACHE_CONTROL
from fashionistar.catalog.models import CURRENCIES, Product, Variant
from fashionistar.catalog.selectors import (
    SORTS,
    CatalogAnswer,
    acatalog_cached,
    aproduct_get,
    product_list,
)
from fashionistar.kernel.apis import PRICE_PATTERN, SLUG_PATTERN, not_modified
from fashionistar.kernel.apis.ninja import (
    CONDITIONAL_GET,
    Money,
    Page,
    PageQuery,
    TrimmedText,
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


def _one_of(allowed: list[str]) -> Any:
    """The metadata of a string that must be in ``allowed``: its check and its schema (an enum).

    The selector refuses the rest too; checked here, the refusal names the field, as in DRF.
    """

    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"Must be one of {allowed}.")
        return value

    return (AfterValidator(check), WithJsonSchema({"type": "string", "enum": allowed}))


Sort = Annotated[str, *_one_of(list(SORTS))]
Currency = Annotated[str, *_one_of(["", *CURRENCIES])]
# A query parameter is text: a price is stated as DRF states it, a string of digits.
Price = Annotated[
    Decimal, WithJsonSchema({"type": "string", "format": "decimal", "pattern": PRICE_PATTERN})
]


class ProductFilters(PageQuery):
    """Query parameters of the product list; an empty price range is the selector's call."""

    search: TrimmedText = Field("", max_length=200)
    category: TrimmedText = Field("", max_length=200)
    currency: Currency = ""
    min_price: Price | None = Field(
        None, ge=0, max_digits=10, decimal_places=2, description="Lowest price, inclusive."
    )
    max_price: Price | None = Field(
        None,
        ge=0,
        max_digits=10,
        decimal_places=2,
        description="Highest price, inclusive; not below min_price.",
    )
    sort: Sort = "name"


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


def _answer(
    request: HttpRequest, response: HttpResponse, answer: CatalogAnswer[dict[str, Any]]
) -> dict[str, Any] | HttpResponse:
    """The full answer with its ETag, or a 304 if the client holds it already."""
    unchanged = not_modified(request, etag=answer.etag, cache_control=CACHE_CONTROL)
    if unchanged is not None:
        return unchanged
    response["ETag"] = answer.etag
    response["Cache-Control"] = CACHE_CONTROL
    return answer.body


# --8<-- [start:ninja_product_list]
@router.get(
    "/catalog/products",
    response=responses({200: Page[ProductOut], 304: None}, 404),
    url_name="product-list",
    openapi_extra=CONDITIONAL_GET,
)
@async_throttle
async def product_list_op(
    request: HttpRequest, filters: Query[ProductFilters], response: HttpResponse
) -> dict[str, Any] | HttpResponse:
    """List active products, one page (``AsyncPaginator``).

    Args:
        request: The request.
        filters: Search, filters, sort and page.
        response: Ninja's response, for the ``ETag`` and ``Cache-Control`` headers.

    Returns:
        ``{"count", "page", "page_size", "results"}`` with its ``ETag``; ``304`` without a
        body when ``If-None-Match`` holds that ETag.
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

    answer = await acatalog_cached(kind="ninja-list", parts=filters.model_dump(), build=build)
    return _answer(request, response, answer)


# --8<-- [end:ninja_product_list]


@router.get(
    "/catalog/products/{slug}",
    response=responses({200: ProductOut, 304: None}, 404),
    url_name="product-detail",
    openapi_extra=CONDITIONAL_GET,
)
@async_throttle
async def product_detail_op(
    request: HttpRequest,
    slug: PathEx[str, P(pattern=SLUG_PATTERN, max_length=200)],
    response: HttpResponse,
) -> dict[str, Any] | HttpResponse:
    """Show one active product.

    Args:
        request: The request.
        slug: The product's slug.
        response: Ninja's response, for the ``ETag`` and ``Cache-Control`` headers.

    Returns:
        The product with its ``ETag``; ``304`` without a body when ``If-None-Match`` holds
        that ETag.
    """

    async def build() -> dict[str, Any]:
        return product_out(await aproduct_get(slug=slug)).model_dump(mode="json")

    answer = await acatalog_cached(kind="ninja-detail", parts={"slug": slug}, build=build)
    return _answer(request, response, answer)
