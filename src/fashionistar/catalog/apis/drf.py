"""Catalog, sync API (DRF): list and show products. Public."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from fashionistar.catalog.models import Variant
from fashionistar.catalog.selectors import catalog_cached, product_get, product_list
from fashionistar.kernel.apis.drf import PageInput, page_of, paginate, responses, validated
from fashionistar.kernel.apis.drf_view import ApiView


def _available(variant: Variant) -> int:
    stock = getattr(variant, "stock", None)  # a variant without a stock row has none
    return int(stock.quantity) if stock is not None else 0


class CategorySerializer(serializers.Serializer[Any]):
    """A product's category."""

    slug = serializers.CharField()
    name = serializers.CharField()


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


class ProductSerializer(serializers.Serializer[Any]):
    """A product as both APIs show it."""

    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    category = CategorySerializer()
    price = serializers.DecimalField(max_digits=10, decimal_places=2)
    currency = serializers.CharField()
    variants = VariantSerializer(many=True, source="variants.all")


# --8<-- [start:drf_product_list]
class ProductListApi(ApiView):
    """``GET catalog/products``: search, filter, sort, paginate."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    class FilterSerializer(PageInput):
        """Search, filters, sort and page; unknown sorts and currencies are the selector's call."""

        search = serializers.CharField(default="", allow_blank=True, max_length=200)
        category = serializers.CharField(default="", allow_blank=True, max_length=200)
        currency = serializers.CharField(default="", allow_blank=True, max_length=200)
        min_price = serializers.DecimalField(
            max_digits=10, decimal_places=2, min_value=Decimal(0), required=False
        )
        max_price = serializers.DecimalField(
            max_digits=10, decimal_places=2, min_value=Decimal(0), required=False
        )
        sort = serializers.CharField(default="name", max_length=200)

    OutputSerializer = ProductSerializer

    @extend_schema(
        operation_id="catalog_products_list",
        parameters=[FilterSerializer],
        responses=responses({200: page_of("ProductPage", ProductSerializer())}, 404),
    )
    def get(self, request: Request) -> Response:
        """List active products, one page.

        Args:
            request: The request.

        Returns:
            ``{"count", "page", "page_size", "results"}``.
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

        return Response(catalog_cached(kind="drf-list", parts=filters, build=build))


# --8<-- [end:drf_product_list]


class ProductDetailApi(ApiView):
    """``GET catalog/products/{slug}``."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    class PathSerializer(serializers.Serializer[Any]):
        """The path: a slug is letters, digits, ``-`` and ``_`` (``%00`` answered 500)."""

        slug = serializers.SlugField(max_length=200)

    OutputSerializer = ProductSerializer

    @extend_schema(responses=responses({200: ProductSerializer}, 404))
    def get(self, request: Request, slug: str) -> Response:
        """Show one active product.

        Args:
            request: The request.
            slug: The product's slug.

        Returns:
            The product.
        """
        path = validated(self.PathSerializer(data={"slug": slug}))
        return Response(
            catalog_cached(
                kind="drf-detail",
                parts=path,
                build=lambda: self.OutputSerializer(product_get(slug=path["slug"])).data,
            )
        )
