"""Tasks for the task tests (module level, as Django requires)."""

from __future__ import annotations

import signal
import time

from django.db import connection
from django.tasks import TaskContext, task

from fashionistar.kernel.redis_client import redis_client


@task(queue_name="critical")
def add(*, a: int, b: int) -> int:
    return a + b


@task(queue_name="critical", takes_context=True)
def flaky(context: TaskContext, *, key: str, failures: int) -> int:
    """Fail ``failures`` times, then succeed; returns the attempt that succeeded."""
    if redis_client().incr(f"flaky:{key}") <= failures:
        raise ConnectionError(f"attempt {context.attempt} failed on purpose")
    return context.attempt


@task(queue_name="critical", takes_context=True)
def loses_its_connection_once(context: TaskContext, *, key: str) -> int:
    """On its first attempt the worker's database connection dies under it (as when PgBouncer
    restarts); then it reads the database. Returns the attempt that could."""
    if redis_client().incr(f"lost:{key}") == 1:
        connection.ensure_connection()
        connection.connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return context.attempt


@task(queue_name="analytics")
def always_fails() -> None:
    raise ValueError("broken for good")


@task(queue_name="critical")
def slow_mark(*, key: str, seconds: float) -> str:
    """Sleep, then mark ``key`` done in Redis (counts runs that finished)."""
    time.sleep(seconds)
    redis_client().incr(f"done:{key}")
    return key


@task(queue_name="critical")
def deaf_sleep(*, seconds: float) -> None:
    """Sleep with SIGALRM blocked: a task that RQ's job timeout cannot stop."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        time.sleep(seconds)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
