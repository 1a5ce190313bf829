"""The one way the application gets a Redis client: through Sentinel when there is one.

With ``settings.REDIS_SENTINELS`` (``["host:port", ...]``) and ``settings.REDIS_SENTINEL_MASTER``
set, a client asks the Sentinels where the master is each time it opens a connection, so it
follows a failover: connections to the old master fail, the next one goes to the new master.
Without them, it connects to ``settings.REDIS_URL``. Both kinds get the same short timeouts, so
a dead server costs a caller about a second, not a hung request.

Code on the request path takes a shared client, so that a request opens no connection of its
own: :func:`shared_redis_client` (one connection pool per process, for sync code and threads)
and :func:`shared_aredis_client` (one per event loop, for async views: the throttle, counters).

Also here: :class:`RedisCache`, Django's ``RedisCache`` with one cache client and connection
pool per process (Django's keeps one per backend object, and under ASGI each request gets a
backend object of its own) and its connections made as :func:`redis_client` makes them, because
Django's own backend supports neither Sentinel nor Cluster.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient, RedisSerializer
from django.core.exceptions import ImproperlyConfigured
from django.utils.functional import cached_property
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)

SOCKET_CONNECT_TIMEOUT_S = 0.5
"""Connecting to a Redis server (or a Sentinel) gives up after this long."""
SOCKET_TIMEOUT_S = 1.0
"""A command waits this long for its reply; blocking commands (``BLPOP``) need a longer one."""
SENTINEL_SOCKET_TIMEOUT_S = 0.5
"""A question to one Sentinel waits this long before the client asks the next Sentinel."""

_Sentinels = tuple[tuple[str, int], ...]


@dataclass
class _LoopClients:
    """What one event loop keeps: its Sentinels and its shared clients, closed with the loop."""

    sentinels: dict[_Sentinels, redis.asyncio.sentinel.Sentinel] = field(default_factory=dict)
    shared: dict[tuple[str, _Sentinels, str], redis.asyncio.Redis] = field(default_factory=dict)


_PER_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClients] = (
    weakref.WeakKeyDictionary()
)


def parse_sentinels(items: list[str] | list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Turn ``["host:port", ...]`` (or ``(host, port)`` pairs) into addresses.

    Args:
        items: The Sentinels, as the setting holds them.

    Returns:
        ``(host, port)`` pairs.

    Raises:
        ImproperlyConfigured: An item is not ``host:port``.

    Example:
        ```py
        from fashionistar.kernel.redis_client import parse_sentinels

        print(parse_sentinels(["10.0.0.1:26379", "sentinel-b:26380"]))
        #> (('10.0.0.1', 26379), ('sentinel-b', 26380))
        ```
    """
    addresses = []
    for item in items:
        if isinstance(item, str):
            host, _, port = item.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ImproperlyConfigured(f"REDIS_SENTINELS items must be host:port, got {item!r}")
            addresses.append((host.strip("[]"), int(port)))
        else:
            addresses.append((str(item[0]), int(item[1])))
    return tuple(addresses)


def sentinel_settings() -> tuple[tuple[tuple[str, int], ...], str]:
    """Read the Sentinels and the master's name from Django's settings.

    Returns:
        The Sentinel addresses (empty: no Sentinel) and the master's name.

    Raises:
        ImproperlyConfigured: Sentinels without a master name.
    """
    addresses = parse_sentinels(getattr(settings, "REDIS_SENTINELS", []) or [])
    master_name = getattr(settings, "REDIS_SENTINEL_MASTER", "") or ""
    if addresses and not master_name:
        raise ImproperlyConfigured("REDIS_SENTINELS is set, REDIS_SENTINEL_MASTER is not")
    return addresses, master_name


def _client_options(decode_responses: bool, socket_timeout: float | None) -> dict[str, Any]:
    return {
        "decode_responses": decode_responses,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": SOCKET_CONNECT_TIMEOUT_S,
    }


def _sentinel_options(*, asyncio: bool) -> dict[str, Any]:
    # No retries: a Sentinel that does not answer is skipped for the next one at once
    # (redis-py's default would retry it ten times with backoff first).
    no_retry = AsyncRetry(NoBackoff(), 0) if asyncio else Retry(NoBackoff(), 0)
    return {
        "socket_timeout": SENTINEL_SOCKET_TIMEOUT_S,
        "socket_connect_timeout": SENTINEL_SOCKET_TIMEOUT_S,
        "retry": no_retry,
    }


# --8<-- [start:redis_client]
@functools.cache
def _sentinel(addresses: tuple[tuple[str, int], ...]) -> redis.sentinel.Sentinel:
    # One per process (and set of Sentinels): it holds the connections to the Sentinels.
    return redis.sentinel.Sentinel(
        list(addresses), sentinel_kwargs=_sentinel_options(asyncio=False)
    )


def redis_client(
    *, decode_responses: bool = False, socket_timeout: float | None = SOCKET_TIMEOUT_S
) -> redis.Redis:
    """Return a client of the Redis master: found through Sentinel, else ``REDIS_URL``.

    Each call makes a new client with its own connection pool: keep it for as long as you
    need it (a worker keeps one; a request may make one), and ``close()`` it when done.

    Args:
        decode_responses: Return ``str`` instead of ``bytes``.
        socket_timeout: Seconds to wait for a reply; ``None`` waits for ever (blocking commands).

    Returns:
        The client. Through Sentinel, a connection that fails is reopened to whichever server
        the Sentinels name as master at that moment.
    """
    addresses, master_name = sentinel_settings()
    options = _client_options(decode_responses, socket_timeout)
    if addresses:
        client: redis.Redis = _sentinel(addresses).master_for(master_name, **options)
        return client
    return redis.Redis.from_url(settings.REDIS_URL, **options)


# --8<-- [end:redis_client]

_SHARED_LOCK = threading.Lock()
_SHARED: dict[tuple[str, _Sentinels, str], redis.Redis] = {}
_CACHE_POOLS: dict[tuple[str, str], redis.ConnectionPool] = {}
_CACHE_CLIENTS: dict[tuple[str, str], SentinelAwareCacheClient] = {}


# --8<-- [start:shared_redis_client]
def shared_redis_client() -> redis.Redis:
    """Return the process's shared client of the Redis master: one connection pool per process.

    For code that runs in every request or task (the cache, enqueueing): it reuses the pool's
    idle connections instead of opening one per call. Threads may share it (redis-py's pool is
    thread-safe), and a forked child gets a fresh pool of its own on first use (the pool notices
    the new process id). Do not close it.

    Returns:
        The client (``bytes`` replies, :data:`SOCKET_TIMEOUT_S`), of the master that
        ``REDIS_URL`` or the Sentinels name.
    """
    addresses, master_name = sentinel_settings()
    key = (settings.REDIS_URL, addresses, master_name)
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = redis_client()
        return _SHARED[key]


# --8<-- [end:shared_redis_client]


# --8<-- [start:aredis_client]
def _async_sentinel(addresses: _Sentinels) -> redis.asyncio.sentinel.Sentinel:
    # Async connections belong to the event loop that opened them: one Sentinel per loop.
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return _new_async_sentinel(addresses)
    per_loop = _loop_clients(loop).sentinels
    if addresses not in per_loop:
        per_loop[addresses] = _new_async_sentinel(addresses)
    return per_loop[addresses]


def _new_async_sentinel(
    addresses: tuple[tuple[str, int], ...],
) -> redis.asyncio.sentinel.Sentinel:
    return redis.asyncio.sentinel.Sentinel(
        list(addresses), sentinel_kwargs=_sentinel_options(asyncio=True)
    )


def aredis_client(
    *,
    decode_responses: bool = False,
    socket_timeout: float | None = SOCKET_TIMEOUT_S,
    url: str | None = None,
) -> redis.asyncio.Redis:
    """Return an asyncio client of the Redis master: through Sentinel, else ``REDIS_URL``.

    Call it in the event loop that will use the client, and ``await client.aclose()`` when done.

    Args:
        decode_responses: Return ``str`` instead of ``bytes``.
        socket_timeout: Seconds to wait for a reply; ``None`` waits for ever (blocking commands).
        url: Another server than ``REDIS_URL`` when there are no Sentinels (a cache's own).

    Returns:
        The client.
    """
    addresses, master_name = sentinel_settings()
    options = _client_options(decode_responses, socket_timeout)
    if addresses:
        client: redis.asyncio.Redis = _async_sentinel(addresses).master_for(master_name, **options)
        return client
    return redis.asyncio.Redis.from_url(url or settings.REDIS_URL, **options)


# --8<-- [end:aredis_client]


# --8<-- [start:shared_aredis_client]
def shared_aredis_client(*, url: str | None = None) -> redis.asyncio.Redis:
    """Return the running event loop's shared asyncio client: one connection pool per loop.

    For short commands on the request path (the throttle, counters, the cache's async methods):
    the first call in a loop makes the client, every later one reuses it and its idle
    connections, so a request opens no connection of its own. Do not close it: it closes with
    its loop (``asyncio.run()`` and ``async_to_sync`` close theirs; a server's loop lives as long
    as its process). A client is never handed to another loop, since async connections belong
    to the loop that opened them.

    Args:
        url: Another server than ``REDIS_URL`` when there are no Sentinels (a cache's own).

    Returns:
        The client (``bytes`` replies, :data:`SOCKET_TIMEOUT_S`), of the master that
        ``url``, ``REDIS_URL`` or the Sentinels name when the loop first asked.

    Raises:
        RuntimeError: No event loop is running.
    """
    loop = asyncio.get_running_loop()
    addresses, master_name = sentinel_settings()
    key = (url or settings.REDIS_URL, addresses, master_name)
    shared = _loop_clients(loop).shared
    if key not in shared:
        shared[key] = aredis_client(url=url)
    return shared[key]


def _loop_clients(loop: asyncio.AbstractEventLoop) -> _LoopClients:
    clients = _PER_LOOP.get(loop)
    if clients is None:
        clients = _PER_LOOP[loop] = _LoopClients()
        _close_clients_with(loop)
    return clients


def _close_clients_with(loop: asyncio.AbstractEventLoop) -> None:
    # asyncio has no hook for a closing loop: wrap its close(), as channels_redis does, so the
    # loop's clients close their connections while the loop can still run them.
    close = loop.close

    def close_clients_then_loop() -> None:
        loop.close = close  # type: ignore[method-assign]
        kept = _PER_LOOP.pop(loop, _LoopClients())
        clients = [*kept.shared.values()]
        clients += [client for sentinel in kept.sentinels.values() for client in sentinel.sentinels]
        try:
            if clients and not loop.is_running():
                loop.run_until_complete(_aclose_all(clients))
        finally:
            close()

    loop.close = close_clients_then_loop  # type: ignore[method-assign]


async def _aclose_all(clients: list[redis.asyncio.Redis]) -> None:
    results = await asyncio.gather(*(client.aclose() for client in clients), return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            logger.warning("A Redis client did not close cleanly", exc_info=result)


# --8<-- [end:shared_aredis_client]


class SentinelAwareCacheClient(RedisCacheClient):
    """Django's Redis cache client with one pool per process, through Sentinel when configured.

    Django's client builds a new ``redis.Redis`` for every command it sends (its
    ``get_client``), whose constructor alone cost several percent of a cached request's CPU:
    here each server's client is built once and shared by the threads of the process, as
    redis-py's clients allow.
    """

    # Set by Django's RedisCacheClient; django-stubs does not declare them.
    _servers: list[str]
    _client: type[redis.Redis]
    _pool_class: type[redis.ConnectionPool]
    _pool_options: dict[str, Any]
    _get_connection_pool_index: Callable[[bool], int]
    _serializer: RedisSerializer

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._clients: dict[int, redis.Redis] = {}

    def _get_connection_pool(self, write: bool) -> redis.ConnectionPool:
        return self._pool_of(self._servers[self._get_connection_pool_index(write)])

    def _pool_of(self, server: str) -> redis.ConnectionPool:
        # Django fills a dict of pools on this object without a lock, and every thread of the
        # process shares this object (RedisCache._cache): the pools are made under one here.
        key = (server, repr(sorted(self._pool_options.items())))
        with _SHARED_LOCK:
            if key not in _CACHE_POOLS:
                _CACHE_POOLS[key] = self._pool_class.from_url(server, **self._pool_options)
            return _CACHE_POOLS[key]

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        """Return the client for a read or a write: the master's, in both cases.

        Args:
            key: The cache key (unused: one master holds every key).
            write: Whether the command writes (unused: replicas are not read from).

        Returns:
            The client, on a connection pool shared by the whole process.
        """
        if sentinel_settings()[0]:
            return shared_redis_client()
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._pool_of(self._servers[index])
            client = self._clients.setdefault(index, self._client(connection_pool=pool))
        return client


class RedisCache(DjangoRedisCache):
    """Django's ``RedisCache``, through Sentinel when ``REDIS_SENTINELS`` is set.

    Without Sentinels it is Django's backend unchanged (``LOCATION`` names the server).
    """

    # Set by Django's RedisCache; django-stubs does not declare them.
    _servers: list[str]
    _options: dict[str, Any]

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SentinelAwareCacheClient

    async def aget(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        """Read one key on the event loop (Django's ``aget`` runs ``get`` in a thread).

        Args:
            key: The key.
            default: What a miss returns.
            version: The key version.

        Returns:
            The value, or ``default``.
        """
        key = self.make_and_validate_key(key, version=version)
        value = cast(bytes | None, await self._aclient().get(key))  # the client decodes nothing
        return default if value is None else self._cache._serializer.loads(value)

    async def aget_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        """Read several keys in one round trip on the event loop (Django's runs in a thread).

        Args:
            keys: The keys.
            version: The key version.

        Returns:
            The keys found, with their values.
        """
        named = {self.make_and_validate_key(key, version=version): key for key in keys}
        values = cast(list[bytes | None], await self._aclient().mget(list(named)))
        loads = self._cache._serializer.loads
        pairs = zip(named.values(), values, strict=True)
        return {key: loads(value) for key, value in pairs if value is not None}

    async def aset(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """Write one key on the event loop, as ``set`` does (a timeout of 0 deletes it).

        Args:
            key: The key.
            value: The value.
            timeout: Seconds to keep it (``None``: for ever).
            version: The key version.
        """
        key = self.make_and_validate_key(key, version=version)
        seconds = self._seconds(timeout)
        if seconds == 0:
            await self._aclient().delete(key)
        else:
            await self._aclient().set(key, self._cache._serializer.dumps(value), ex=seconds)

    async def aadd(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        """Write one key on the event loop unless it exists, as ``add`` does.

        Django's ``aget_or_set`` calls :meth:`aget` and this one: it stays on the loop too.

        Args:
            key: The key.
            value: The value.
            timeout: Seconds to keep it (``None``: for ever).
            version: The key version.

        Returns:
            Whether it was written.
        """
        key = self.make_and_validate_key(key, version=version)
        seconds = self._seconds(timeout)
        client, data = self._aclient(), self._cache._serializer.dumps(value)
        if seconds == 0:
            if added := bool(await client.set(key, data, nx=True)):
                await client.delete(key)
            return added
        return bool(await client.set(key, data, ex=seconds, nx=True))

    def _seconds(self, timeout: Any) -> int | None:
        seconds = self.get_backend_timeout(timeout)  # Django's: None or a whole number
        return None if seconds is None else int(seconds)

    def _aclient(self) -> redis.asyncio.Redis:
        # The master through Sentinel, else the first server of LOCATION (Django writes there).
        return shared_aredis_client(url=self._servers[0])

    @cached_property
    def _cache(self) -> SentinelAwareCacheClient:
        # One client per process and configuration, not one per backend object (so per request
        # under ASGI): making one costs a search of the installed packages, as redis-py reads its
        # own version for the connection's driver information.
        key = (repr(self._servers), repr(sorted(self._options.items())))
        with _SHARED_LOCK:
            if key not in _CACHE_CLIENTS:
                _CACHE_CLIENTS[key] = self._class(self._servers, **self._options)
            return _CACHE_CLIENTS[key]
