"""The heap a server process starts with, kept out of the garbage collector's full passes."""

from __future__ import annotations

import gc


# --8<-- [start:freeze]
def freeze_startup_heap() -> None:
    """Collect once, then freeze what is left: the objects start-up leaves alive for good.

    Django, the apps, their libraries and their modules stay alive as long as the process,
    yet each full collection (the collector's oldest generation) walks all of them again. A
    request's own objects are freed by reference counting, but what lives a while (spans
    waiting for their batch to be sent) is promoted to the oldest generation, and once enough
    is, the collector walks the whole heap with it. Frozen, start-up's objects are
    skipped: a full pass walks only what came after. The collection first frees start-up's
    garbage instead of freezing it (``gc.freeze``'s documentation).
    """
    gc.collect()
    gc.freeze()


# --8<-- [end:freeze]
