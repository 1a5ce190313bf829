"""Inventory reads."""

from __future__ import annotations

from fashionistar.inventory.models import Stock


def stock_available(*, variant_ids: list[int]) -> dict[int, int]:
    """Return the units left per variant (0 for a variant without a stock row).

    Args:
        variant_ids: The variants.

    Returns:
        Units per variant id.
    """
    found = dict(
        Stock.objects.filter(variant_id__in=variant_ids).values_list("variant_id", "quantity")
    )
    return {variant_id: found.get(variant_id, 0) for variant_id in variant_ids}
