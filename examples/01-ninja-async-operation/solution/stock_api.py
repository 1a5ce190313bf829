"""Exercise 01, reference solution: an async operation, its answer a schema, the async ORM."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Schema

from fashionistar.catalog.models import Product, Variant
from fashionistar.kernel.errors import NotFound

router = Router(tags=["workshop"])


class StockOut(Schema):
    """A product's units left, per size and in all."""

    slug: str
    sizes: dict[str, int]
    total: int


@router.get("/products/{slug}/stock", response=StockOut)
async def product_stock(request: HttpRequest, slug: str) -> StockOut:
    """Show how many units of a product are left, per size.

    Args:
        request: The request.
        slug: The product.

    Returns:
        The stock per size and the total.

    Raises:
        NotFound: No active product with that slug.
    """
    product = await Product.objects.filter(slug=slug, is_active=True).afirst()
    if product is None:
        raise NotFound("Product not found.", extra={"slug": slug})
    variants = Variant.objects.filter(product=product).select_related("stock").order_by("pk")
    sizes = {variant.size: variant.stock.quantity async for variant in variants}
    return StockOut(slug=product.slug, sizes=sizes, total=sum(sizes.values()))
