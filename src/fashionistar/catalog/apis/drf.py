"""Catalog, sync API (DRF): list and show products. Public."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from fashionistar.catalog.apis import CACHE_CONTROL
from fashionistar.catalog.models import CURRENCIES, Product, Variant
from fashionistar.catalog.selectors import (
    SORTS,
    CatalogAnswer,
    catalog_cached,
    product_get,
    product_list,
)
from fashionistar.kernel.apis import PRICE_PATTERN, SLUG_PATTERN, not_modified
from fashionistar.kernel.apis.drf import (
    CONDITIONAL_GET,
    NOT_MODIFIED,
    PageInput,
    page_of,
    paginate,
    responses,
    validated,
)
from fashionistar.kernel.apis.drf_view import ApiView

PRICE_SCHEMA = {"type": "string", "format": "decimal", "pattern": PRICE_PATTERN}


def _answer(request: Request, answer: CatalogAnswer[Any]) -> HttpResponseBase:
    """The full answer with its ETag, or a 304 if the client holds it already."""
    unchanged = not_modified(request, etag=answer.etag, cache_control=CACHE_CONTROL)
    if unchanged is not None:
        return unchanged
    return Response(answer.body, headers={"ETag": answer.etag, "Cache-Control": CACHE_CONTROL})


def _available(variant: Variant) -> int:
    stock = getattr(variant, "stock", None)  # a variant without a stock row has none
    return int(stock.quantity) if stock is not None else 0


class CategorySerializer(serializers.Serializer[Any]):
    """A product's category."""

    slug = serializers.CharField()
    name = serializers.CharField()


# --8<-- [start:drf_product_serializer]
def _variant_data(variant: Variant) -> dict[str, Any]:
    return {
        "id": variant.pk,
        "sku": variant.sku,
        "size": variant.size,
        "colour": variant.colour,
        "available": _available(variant),
    }


class VariantSerializer(serializers.Serializer[Any]):
    """One size and colour, with the units left."""

    id = serializers.IntegerField()
    sku = serializers.CharField()
    size = serializers.CharField()
    colour = serializers.CharField()
    available = serializers.SerializerMethodField()

    def get_available(self, variant: Variant) -> int:
        """Units left.

        Args:
            variant: The variant.

        Returns:
            Units on hand (0 without a stock row).
        """
        return _available(variant)

    def to_representation(self, instance: Variant) -> dict[str, Any]:
        """The declared fields, written out (see :class:`ProductSerializer`).

        Args:
            instance: The variant, its stock loaded.

        Returns:
            The variant's JSON-ready fields.
        """
        return _variant_data(instance)


class ProductSerializer(serializers.Serializer[Any]):
    """A product as both APIs show it.

    The fields declare the shape: the OpenAPI schema and the browsable API read them.
    ``to_representation`` writes the same fields out by hand: a page of the list serializes
    every product and variant on it whenever the answer is not cached, and DRF's
    field-by-field path (a ``get_attribute`` and a ``to_representation`` call per field and
    row) was, after the database, where an uncached list spent its time. A test holds the two
    the same.
    """

    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    category = CategorySerializer()
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField()
    variants = VariantSerializer(many=True, source="variants.all")

    def to_representation(self, instance: Product) -> dict[str, Any]:
        """The declared fields, written out.

        Args:
            instance: The product, its category and variants loaded (a catalog selector).

        Returns:
            The product's JSON-ready fields; the price as a string with two decimals.
        """
        return {
            "id": instance.pk,
            "slug": instance.slug,
            "name": instance.name,
            "description": instance.description,
            "category": {"slug": instance.category.slug, "name": instance.category.name},
            "price": f"{instance.price:.2f}",
            "currency": instance.currency,
            "variants": [_variant_data(variant) for variant in instance.variants.all()],
        }


# --8<-- [end:drf_product_serializer]


# --8<-- [start:drf_product_list]
class ProductListApi(ApiView):
    """``GET catalog/products``: search, filter, sort, paginate."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    class FilterSerializer(PageInput):
        """Search, filters, sort and page; an empty price range is the selector's call."""

        search = serializers.CharField(default="", allow_blank=True, max_length=200)
        category = serializers.CharField(default="", allow_blank=True, max_length=200)
        currency = serializers.ChoiceField(choices=CURRENCIES, default="", allow_blank=True)
        min_price = serializers.DecimalField(
            max_digits=10, decimal_places=2, min_value=Decimal(0), required=False
        )
        max_price = serializers.DecimalField(
            max_digits=10, decimal_places=2, min_value=Decimal(0), required=False
        )
        sort = serializers.ChoiceField(choices=list(SORTS), default="name")

    OutputSerializer = ProductSerializer

    @extend_schema(
        operation_id="catalog_products_list",
        parameters=[
            FilterSerializer,
            # A decimal query parameter is a string: its range is stated as a pattern.
            OpenApiParameter("min_price", PRICE_SCHEMA, description="Lowest price, inclusive."),
            OpenApiParameter(
                "max_price",
                PRICE_SCHEMA,
                description="Highest price, inclusive; not below min_price.",
            ),
            *CONDITIONAL_GET,
        ],
        responses=responses(
            {200: page_of("ProductPage", ProductSerializer()), 304: NOT_MODIFIED}, 404
        ),
    )
    def get(self, request: Request) -> HttpResponseBase:
        """List active products, one page.

        Args:
            request: The request.

        Returns:
            ``{"count", "page", "page_size", "results"}`` with its ``ETag``; ``304`` without a
            body when ``If-None-Match`` holds that ETag.
        """
        filters = validated(self.FilterSerializer(data=request.query_params))

        def build() -> dict[str, Any]:
            query = dict(filters)
            page, page_size = query.pop("page"), query.pop("page_size")
            return paginate(
                product_list(**query),
                page=page,
                page_size=page_size,
                serialize=lambda objects: self.OutputSerializer(objects, many=True).data,
            )

        return _answer(request, catalog_cached(kind="drf-list", parts=filters, build=build))


# --8<-- [end:drf_product_list]


class ProductDetailApi(ApiView):
    """``GET catalog/products/{slug}``."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    class PathSerializer(serializers.Serializer[Any]):
        """The path: a slug is letters, digits, ``-`` and ``_`` (``%00`` answered 500)."""

        slug = serializers.SlugField(max_length=200)

    OutputSerializer = ProductSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "slug",
                {"type": "string", "pattern": SLUG_PATTERN, "maxLength": 200},
                OpenApiParameter.PATH,
            ),
            *CONDITIONAL_GET,
        ],
        responses=responses({200: ProductSerializer, 304: NOT_MODIFIED}, 404),
    )
    def get(self, request: Request, slug: str) -> HttpResponseBase:
        """Show one active product.

        Args:
            request: The request.
            slug: The product's slug.

        Returns:
            The product with its ``ETag``; ``304`` without a body when ``If-None-Match`` holds
            that ETag.
        """
        path = validated(self.PathSerializer(data={"slug": slug}))
        answer = catalog_cached(
            kind="drf-detail",
            parts=path,
            build=lambda: self.OutputSerializer(product_get(slug=path["slug"])).data,
        )
        return _answer(request, answer)
