"""A task that does nothing but answer: for the task benchmark and smoke tests of a deployment."""

from __future__ import annotations

from django.tasks import task


@task(queue_name="critical")
def echo(*, value: int) -> int:
    """Return ``value``: proves a round trip through the queue and a worker.

    Args:
        value: Anything JSON.

    Returns:
        The same value.
    """
    return value
