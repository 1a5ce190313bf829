"""Admin pages of the payments (read-only)."""

from django.contrib import admin

from fashionistar.kernel.admin import ReadOnlyAdmin
from fashionistar.payments.models import Payment


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    """Charges, newest first."""

    list_display = ("id", "order", "status", "amount", "currency", "created_at")
    list_filter = ("status",)
