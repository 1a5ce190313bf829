"""Admin pages of the inventory: stock per variant and reservations (read-only)."""

from django.contrib import admin

from fashionistar.inventory.models import Reservation, Stock
from fashionistar.kernel.admin import ReadOnlyAdmin


@admin.register(Stock)
class StockAdmin(ReadOnlyAdmin):
    """Units on hand per variant."""

    list_display = ("variant", "quantity")
    search_fields = ("variant__sku",)


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    """Units an order holds, until it is cancelled."""

    list_display = ("order", "variant", "quantity", "released_at")
