"""Admin pages of the orders, with their lines (read-only)."""

from django.contrib import admin

from fashionistar.kernel.admin import ReadOnlyAdmin, ReadOnlyInline
from fashionistar.orders.models import Order, OrderLine


class OrderLineInline(ReadOnlyInline):
    """An order's lines."""

    model = OrderLine
    fields = ("variant", "quantity", "unit_price", "line_total")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    """Orders, newest first."""

    list_display = ("id", "user", "status", "total", "currency", "created_at")
    list_filter = ("status",)
    date_hierarchy = "created_at"
    inlines = (OrderLineInline,)
