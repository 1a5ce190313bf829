"""The shop's Redis cache, counting hits and misses (``fashionistar_cache_requests_total``)."""

from __future__ import annotations

from typing import Any

from fashionistar.kernel.redis_client import RedisCache
from fashionistar.observability.metrics import CACHE_REQUESTS

_MISSING = object()

_hits = CACHE_REQUESTS.labels(result="hit")
_misses = CACHE_REQUESTS.labels(result="miss")


class MeteredRedisCache(RedisCache):
    """The shop's ``RedisCache`` (Sentinel-aware); its reads count as hits or misses.

    ``aget`` and ``aget_many`` count as ``get`` and ``get_many`` do.
    """

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """Read one key.

        Args:
            key: The key.
            default: What a miss returns.
            version: The key version.

        Returns:
            The value, or ``default``.
        """
        return _counted(super().get(key, _MISSING, version), default)

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """Read one key on the event loop.

        Args:
            key: The key.
            default: What a miss returns.
            version: The key version.

        Returns:
            The value, or ``default``.
        """
        return _counted(await super().aget(key, _MISSING, version), default)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        """Read several keys: each one found is a hit, each one missing a miss.

        Args:
            keys: The keys.
            version: The key version.

        Returns:
            The keys found, with their values.
        """
        keys = list(keys)
        return _counted_many(keys, super().get_many(keys, version))

    async def aget_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        """Read several keys on the event loop, counted as :meth:`get_many` counts them.

        Args:
            keys: The keys.
            version: The key version.

        Returns:
            The keys found, with their values.
        """
        keys = list(keys)
        return _counted_many(keys, await super().aget_many(keys, version))


def _counted_many(keys: list[Any], found: dict[Any, Any]) -> dict[Any, Any]:
    """Count each key found as a hit, each one missing as a miss."""
    if found:
        _hits.inc(len(found))
    if len(found) < len(keys):
        _misses.inc(len(keys) - len(found))
    return found


def _counted(value: Any, default: Any) -> Any:
    """Count a read as a hit or a miss; a miss (``_MISSING``) gives ``default``."""
    if value is _MISSING:
        _misses.inc()
        return default
    _hits.inc()
    return value
