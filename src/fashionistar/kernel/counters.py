"""Counters in Redis that expire: the throttle's windows, checkout's recent views."""

from __future__ import annotations

from fashionistar.kernel.redis_client import shared_aredis_client, shared_redis_client


def increment(key: str, *, ttl_s: int) -> int:
    """Add one to a counter and (re)set its expiry, in one ``MULTI``: one round trip.

    For sync code (DRF's throttle): the command goes over the process's shared pool.

    Args:
        key: The counter's key.
        ttl_s: Seconds until it expires.

    Returns:
        The counter's new value.

    Raises:
        RedisError: Redis did not answer (the caller decides what that means).
    """
    with shared_redis_client().pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, ttl_s)
        count, _ = pipe.execute()
    return int(count)


async def aincrement(key: str, *, ttl_s: int) -> int:
    """Add one to a counter and (re)set its expiry, in one ``MULTI``, without blocking the loop.

    The command goes over a pooled connection of the event loop's shared client: a request
    opens no connection of its own.

    Args:
        key: The counter's key.
        ttl_s: Seconds until it expires.

    Returns:
        The counter's new value.

    Raises:
        RedisError: Redis did not answer (the caller decides what that means).
    """
    async with shared_aredis_client().pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, ttl_s)
        count, _ = await pipe.execute()
    return int(count)
