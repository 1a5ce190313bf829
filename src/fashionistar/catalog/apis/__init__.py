"""API entry points: `drf` (sync, Django REST Framework) and `ninja` (async, django-ninja)."""

# --8<-- [start:cache_control]
CACHE_CONTROL = "public, max-age=0, must-revalidate"
"""``Cache-Control`` of the catalog's answers, in both APIs.

Any cache may keep them (``public``: they are the same for every customer), but none may use a
kept copy without asking first (``max-age=0, must-revalidate``): a saved price must show on
the next request, as it does from the server's own cache. Asking is cheap: the ETag is kept
beside the answer in Redis, so an unchanged answer is a ``304`` without a body, built from
one round trip to Redis and no SQL. A ``max-age`` of ``CATALOG_CACHE_S`` would save that round trip
but show an old price for that long after a change.
"""
# --8<-- [end:cache_control]
