"""Admin pages of the catalog: categories, and products with their variants (read-only)."""

from django.contrib import admin

from fashionistar.catalog.models import Category, Product, Variant
from fashionistar.kernel.admin import ReadOnlyAdmin, ReadOnlyInline


class VariantInline(ReadOnlyInline):
    """A product's variants."""

    model = Variant
    fields = ("sku", "size", "colour")


@admin.register(Category)
class CategoryAdmin(ReadOnlyAdmin):
    """Categories."""

    list_display = ("name", "slug")


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    """Products, searchable by name."""

    list_display = ("name", "category", "price", "currency", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("name", "slug")
    exclude = ("search_text",)
    inlines = (VariantInline,)
