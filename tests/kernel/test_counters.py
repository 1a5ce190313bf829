"""Counters in Redis: one pooled client per event loop, its connections closed with the loop."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from redis.exceptions import RedisError

from fashionistar.kernel.counters import aincrement
from fashionistar.kernel.redis_client import redis_client, shared_aredis_client

pytestmark = pytest.mark.usefixtures("clean_redis")


def server_clients() -> tuple[int, int]:
    """Connections the Redis server has open now, and has accepted since it started."""
    with redis_client() as client:
        clients, stats = client.info("clients"), client.info("stats")
    return int(clients["connected_clients"]), int(stats["total_connections_received"])


def test_sequential_increments_in_one_loop_share_one_connection() -> None:
    async def count_up() -> tuple[list[int], set[int]]:
        values, connections = [], set()
        for _ in range(50):
            values.append(await aincrement("counter:a", ttl_s=60))
            connections.add(await shared_aredis_client().client_id())
        return values, connections

    open_before, accepted_before = server_clients()
    values, connections = asyncio.run(count_up())
    open_after, accepted_after = server_clients()

    assert values == list(range(1, 51))
    assert len(connections) == 1
    # One connection for the 50 increments (each server_clients() call opens one more), and it
    # was closed when asyncio.run() closed the loop.
    assert accepted_after - accepted_before == 1 + 1
    assert open_after <= open_before  # (another test's client may close meanwhile)


def test_concurrent_increments_reuse_the_pool_afterwards() -> None:
    async def bursts() -> tuple[int, int]:
        await asyncio.gather(*(aincrement("counter:b", ttl_s=60) for _ in range(8)))
        pool = shared_aredis_client().connection_pool
        after_burst = len(pool._available_connections)
        for _ in range(20):
            await aincrement("counter:b", ttl_s=60)
        return after_burst, len(pool._available_connections)

    _, accepted_before = server_clients()
    after_burst, after_sequence = asyncio.run(bursts())
    _, accepted_after = server_clients()

    assert 1 <= after_burst <= 8
    assert after_sequence == after_burst  # the sequential calls opened nothing
    assert accepted_after - accepted_before == after_burst + 1


def test_each_event_loop_gets_its_own_client() -> None:
    async def client() -> redis.asyncio.Redis:
        first = shared_aredis_client()
        assert shared_aredis_client() is first
        await aincrement("counter:c", ttl_s=60)
        return first

    one, other = asyncio.run(client()), asyncio.run(client())

    assert other is not one  # async connections belong to the loop that opened them
    (connection,) = one.connection_pool._available_connections
    assert not connection.is_connected  # closed with its loop


def test_a_new_redis_url_gets_a_new_client(settings) -> None:
    async def clients() -> tuple[redis.asyncio.Redis, redis.asyncio.Redis]:
        first = shared_aredis_client()
        settings.REDIS_URL = "redis://127.0.0.1:1/0"
        return first, shared_aredis_client()

    first, second = asyncio.run(clients())

    assert second is not first
    assert second.connection_pool.connection_kwargs["port"] == 1


def test_an_increment_raises_redis_error_when_redis_is_down(settings) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"

    async def twice() -> None:
        for _ in range(2):
            with pytest.raises(RedisError):
                await aincrement("counter:d", ttl_s=60)

    asyncio.run(twice())
