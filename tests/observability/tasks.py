"""A task for the observability tests (module level, as Django requires)."""

from __future__ import annotations

import logging

from django.tasks import TaskContext, task

from fashionistar.kernel.redis_client import redis_client

logger = logging.getLogger(__name__)


@task(queue_name="analytics", takes_context=True)
def log_and_fail_once(context: TaskContext, *, key: str) -> int:
    """Log a line, fail the first attempt, succeed the second."""
    logger.info("attempt %s of %s", context.attempt, key)
    if redis_client().incr(f"fail-once:{key}") == 1:
        raise ConnectionError("first attempt fails on purpose")
    return context.attempt
