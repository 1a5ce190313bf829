"""Exercise 15, reference solution: both dependencies at once, each within a second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import psycopg
from django.db import connection
from django.http import HttpRequest, JsonResponse

from fashionistar.kernel.redis_client import aredis_client

CHECK_TIMEOUT_S = 1.0
"""Each check gives up after this long; the probe's own timeout is longer."""


async def _database() -> None:
    params = connection.get_connection_params()  # the way Django connects: through PgBouncer
    params.pop("cursor_factory")
    async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as database:
        await database.execute("SELECT 1")


async def _redis() -> None:
    client = aredis_client(socket_timeout=CHECK_TIMEOUT_S)  # the master, through Sentinel
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _outcome(check: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
        return f"error: {error.__class__.__name__}"
    return "ok"


async def ready(request: HttpRequest) -> JsonResponse:
    """Report whether this process can serve: PostgreSQL (through PgBouncer) and Redis answer.

    Both checks run at once, on new connections (a pooled one would hide that new ones fail),
    each within :data:`CHECK_TIMEOUT_S`, so a hung server fails its check, not the probe.

    Args:
        request: The probe's request.

    Returns:
        ``{"database": "ok", "redis": "ok"}`` with 200, else 503 naming what failed.
    """
    database, redis = await asyncio.gather(_outcome(_database()), _outcome(_redis()))
    checks = {"database": database, "redis": redis}
    status = 200 if set(checks.values()) == {"ok"} else 503
    return JsonResponse(checks, status=status)
