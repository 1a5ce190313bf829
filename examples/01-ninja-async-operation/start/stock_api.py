"""Exercise 01: a product's stock per size, as an operation of the async API (django-ninja)."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router

from fashionistar.catalog.models import Product

router = Router(tags=["workshop"])


# TODO: make it an async operation that reads with the async ORM, describe its answer with a
# Schema (response=...), and answer an unknown product with a 404 in the shop's error shape.
@router.get("/products/{slug}/stock")
def product_stock(request: HttpRequest, slug: str):
    product = get_object_or_404(Product, slug=slug, is_active=True)
    sizes = {variant.size: variant.stock.quantity for variant in product.variants.all()}
    return {"slug": product.slug, "sizes": sizes, "total": sum(sizes.values())}
