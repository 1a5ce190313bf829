"""The shared Redis clients: a request opens no Redis connection of its own, under ASGI too."""

from __future__ import annotations

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache, caches
from django.tasks import task_backends
from redis._parsers import _AsyncHiredisParser, _HiredisParser
from redis.connection import HiredisRespSerializer

from fashionistar.kernel.redis_client import (
    RedisCache,
    redis_client,
    shared_aredis_client,
    shared_redis_client,
)
from fashionistar.tasks.backend import RQTaskBackend
from tests.factories import make_product

CATALOG_LISTS = ["/api/sync/catalog/products", "/api/async/catalog/products"]


def connections_received() -> int:
    with redis_client() as client:
        return int(client.info("stats")["total_connections_received"])


def test_every_cache_backend_object_of_a_process_shares_one_client_and_pool() -> None:
    # Django makes one backend object per thread, and per request under ASGI; a client costs a
    # search of the installed packages (redis-py's driver information reads its own version).
    first, second = caches.create_connection("default"), caches.create_connection("default")

    assert first is not second
    assert first._cache is second._cache
    assert first._cache.get_client().connection_pool is second._cache.get_client().connection_pool
    # Django's own client builds a redis.Redis for each command: this one builds one, once.
    assert first._cache.get_client() is first._cache.get_client(write=True)


def test_the_caches_async_methods_stay_on_the_event_loop_and_agree_with_the_sync_ones(
    monkeypatch,
) -> None:
    cache.set("sync-written", 3, timeout=30)

    def hop(*args, **kwargs):
        raise AssertionError("handed to a thread")

    async def on_the_loop() -> tuple[object, ...]:
        with monkeypatch.context() as patched:
            for name in ("get", "set", "add", "get_many"):
                patched.setattr(RedisCache, name, hop)
            await cache.aset("loop-written", {"sizes": ["S", "M"]}, timeout=30)
            return (
                await cache.aget("sync-written"),
                await cache.aget("never-written", "default"),
                await cache.aadd("loop-written", "other", timeout=30),
                await cache.aadd("loop-added", 5, timeout=None),
                await cache.aget_or_set("loop-version", 1, timeout=None),
                await cache.aget_many(["sync-written", "never-written", "loop-written"]),
                await cache.aset("sync-written", 4, timeout=0),
            )

    many = {"sync-written": 3, "loop-written": {"sizes": ["S", "M"]}}
    assert async_to_sync(on_the_loop)() == (3, "default", False, True, 1, many, None)
    assert cache.get("loop-written") == {"sizes": ["S", "M"]}
    assert cache.get("loop-added") == 5
    assert cache.get("loop-version") == 1
    assert cache.get("sync-written") is None  # a timeout of 0 deletes, as set() does
    with redis_client() as client:
        assert client.ttl(cache.make_key("loop-added")) == -1  # None: kept for ever
        assert 0 < client.ttl(cache.make_key("loop-written")) <= 30


def test_every_task_backend_object_shares_the_process_client() -> None:
    first, second = (
        task_backends.create_connection("default"),
        task_backends.create_connection("default"),
    )

    assert isinstance(first, RQTaskBackend)
    assert isinstance(second, RQTaskBackend)
    assert first.connection is second.connection is shared_redis_client()


def test_both_clients_pack_and_parse_with_hiredis() -> None:
    sync_connection = shared_redis_client().connection_pool.make_connection()

    async def async_connection() -> object:
        return shared_aredis_client().connection_pool.make_connection()

    assert isinstance(sync_connection._parser, _HiredisParser)
    assert isinstance(sync_connection._command_packer, HiredisRespSerializer)
    assert isinstance(async_to_sync(async_connection)()._parser, _AsyncHiredisParser)


@pytest.mark.django_db(transaction=True)
def test_catalog_requests_under_asgi_open_no_redis_connection(shop_server: str) -> None:
    make_product(name="Scarf", stock=3)
    with httpx.Client(base_url=shop_server, timeout=10) as http:
        for path in CATALOG_LISTS:  # the first requests open the pool's connections
            assert http.get(path).status_code == 200
        before = connections_received()
        for _ in range(20):
            for path in CATALOG_LISTS:
                assert http.get(path).status_code == 200
        after = connections_received()

    assert after - before == 1  # this test's own INFO connection, none of the server's
