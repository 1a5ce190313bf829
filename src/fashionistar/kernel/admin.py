"""Read-only admin pages: staff look at the shop's data; writes go through the services.

Stock changes take the stock lock, orders move through their allowed transitions, payments go
through the gateway with an idempotency key: an admin form that saved a row directly would skip
all three, so the domain models are shown, never edited, here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A model's list and detail pages, without add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Refuse: rows are made by the services.

        Args:
            request: The request.

        Returns:
            ``False``.
        """
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: rows change through the services.

        Args:
            request: The request.
            obj: The row, if one.

        Returns:
            ``False``.
        """
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: rows are kept (orders and payments are records).

        Args:
            request: The request.
            obj: The row, if one.

        Returns:
            ``False``.
        """
        return False


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    """Related rows shown in their parent's page, read-only."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: rows are made by the services.

        Args:
            request: The request.
            obj: The parent row.

        Returns:
            ``False``.
        """
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Refuse: rows change through the services.

        Args:
            request: The request.
            obj: The parent row.

        Returns:
            ``False``.
        """
        return False
