"""Health endpoints: ``/livez`` (liveness), ``/readyz`` (readiness), ``/healthz`` (both, at once).

- ``/livez`` checks nothing outside the process: a liveness probe that checked PostgreSQL or
  Redis would have Kubernetes restart every pod during an outage of either, which cures nothing.
- ``/readyz`` checks PostgreSQL (through PgBouncer) and Redis, with short timeouts: a pod that
  cannot reach them gets no traffic until it can.
- ``/healthz`` answers whether the database and the cache work through Django's own
  connections; it is the quick check of the load scripts.
- ``/healthz/tasks`` reports every task queue (depth, failed jobs, oldest job's wait, live
  workers) and fails when a queue is not being served: for the operator and the alerting that
  probe it, never for a pod's own probes (a web pod is fine when the workers are not).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import asdict

import psycopg
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from redis.exceptions import RedisError

from fashionistar.kernel.redis_client import aredis_client
from fashionistar.tasks.monitoring import queue_stats

# --8<-- [start:ready_timeout]
READY_TIMEOUT_SECONDS = 1.0
"""Each readiness check gives up after this long (the probe's own timeout must be longer)."""
# --8<-- [end:ready_timeout]


def livez(request: HttpRequest) -> JsonResponse:
    """Report that the process answers requests.

    Args:
        request: The request.

    Returns:
        ``{"status": "ok"}`` with 200.
    """
    return JsonResponse({"status": "ok"})


def healthz(request: HttpRequest) -> JsonResponse:
    """Report whether the database and the cache answer.

    Args:
        request: The request.

    Returns:
        ``{"database": "ok", "cache": "ok"}`` with 200, or the failing part with 503.
    """
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
        checks["database"] = f"error: {error.__class__.__name__}"
    try:
        cache.set("healthz", "ok", timeout=5)
        checks["cache"] = "ok" if cache.get("healthz") == "ok" else "error: no round trip"
    except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
        checks["cache"] = f"error: {error.__class__.__name__}"
    status = 200 if all(value == "ok" for value in checks.values()) else 503
    return JsonResponse(checks, status=status)


# --8<-- [start:tasks_health]
def tasks_health(request: HttpRequest) -> JsonResponse:
    """Report each task queue, and whether each is being served.

    A queue fails when jobs wait in it with no live worker, or when its oldest job has waited
    longer than ``TASK_HEALTH_MAX_WAIT_S``. The figures are RQ's own (:func:`queue_stats`).

    Args:
        request: The request.

    Returns:
        ``{"queues": {name: {...figures, "status"}}}`` with 200 when every queue is served,
        else 503; 503 with ``{"redis": "error: ..."}`` when Redis does not answer.
    """
    try:
        stats = queue_stats()
    except RedisError as error:
        return JsonResponse({"redis": f"error: {error.__class__.__name__}"}, status=503)
    queues = {}
    for queue in stats:
        if queue.depth and not queue.workers:
            status = "error: no worker"
        elif queue.oldest_job_age_seconds > settings.TASK_HEALTH_MAX_WAIT_S:
            status = "error: falling behind"
        else:
            status = "ok"
        figures = asdict(queue)
        queues[figures.pop("queue")] = {**figures, "status": status}
    served = all(queue["status"] == "ok" for queue in queues.values())
    return JsonResponse({"queues": queues}, status=200 if served else 503)


# --8<-- [end:tasks_health]


# --8<-- [start:readyz]
async def _database_answers() -> None:
    """Open a new connection the way Django does (through PgBouncer) and run ``SELECT 1``."""
    params = connection.get_connection_params()
    params.pop("cursor_factory")  # Django's sync cursor class
    async with await psycopg.AsyncConnection.connect(**params, autocommit=True) as database:
        await database.execute("SELECT 1")


async def _redis_answers() -> None:
    """``PING`` the Redis master (through Sentinel when there is one) on a new connection."""
    client = aredis_client(socket_timeout=READY_TIMEOUT_SECONDS)
    try:
        await client.ping()
    finally:
        await client.aclose()


async def _outcome(check: Awaitable[None]) -> str:
    try:
        await asyncio.wait_for(check, READY_TIMEOUT_SECONDS)
    except Exception as error:  # noqa: BLE001 - any failure is reported, not raised
        return f"error: {error.__class__.__name__}"
    return "ok"


async def readyz(request: HttpRequest) -> JsonResponse:
    """Report whether this process can serve: PostgreSQL (through PgBouncer) and Redis answer.

    Both checks run at once on new connections, each with a
    :data:`READY_TIMEOUT_SECONDS` limit, so a hung server fails the check instead of the probe.

    Args:
        request: The request.

    Returns:
        ``{"database": "ok", "redis": "ok"}`` with 200, else 503 with the failing check's
        error class, for example ``{"database": "ok", "redis": "error: TimeoutError"}``.
    """
    database, redis = await asyncio.gather(
        _outcome(_database_answers()), _outcome(_redis_answers())
    )
    checks = {"database": database, "redis": redis}
    status = 200 if all(value == "ok" for value in checks.values()) else 503
    return JsonResponse(checks, status=status)


# --8<-- [end:readyz]
