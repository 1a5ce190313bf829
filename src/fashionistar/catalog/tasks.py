"""Catalog tasks: the ``search_text`` backfill of the expand/contract example."""

from __future__ import annotations

from django.tasks import task

from fashionistar.catalog.services import product_search_text_backfill

BACKFILL_BATCH = 500


# --8<-- [start:backfill_task]
@task(queue_name="analytics")
def catalog_backfill_search_text(*, batch_size: int = BACKFILL_BATCH) -> int:
    """Fill one batch of ``Product.search_text``; enqueue the next batch while rows are left.

    Each batch is one short transaction, so the table is never locked for long, and a worker
    restart loses at most a batch (the next run takes the rows still empty).

    Args:
        batch_size: Products per batch.

    Returns:
        Products filled by this batch.
    """
    filled = product_search_text_backfill(batch_size=batch_size)
    if filled == batch_size:
        catalog_backfill_search_text.enqueue(batch_size=batch_size)
    return filled


# --8<-- [end:backfill_task]
