"""Queue health, read from RQ's own registries in Redis: depth, oldest job, failures, workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry

from fashionistar.redis_client import redis_client
from fashionistar.tasks.worker import task_queue_names


@dataclass(frozen=True)
class QueueStats:
    """One queue, now.

    Attributes:
        queue: Its name.
        depth: Jobs waiting to run.
        oldest_job_age_seconds: How long the oldest waiting job has waited (0 when none).
        failed: Jobs that failed for good and are kept for inspection.
        workers: Live workers listening on it.
    """

    queue: str
    depth: int
    oldest_job_age_seconds: float
    failed: int
    workers: int


# --8<-- [start:queue_stats]
def queue_stats(*, now: datetime | None = None) -> list[QueueStats]:
    """Read every task queue's figures from Redis.

    Args:
        now: The current time (for tests).

    Returns:
        One entry per queue, sorted by name.
    """
    current = now or datetime.now(UTC)
    stats = []
    with redis_client() as connection:
        for name in task_queue_names():
            queue = Queue(name, connection=connection)
            oldest_id = next(iter(queue.get_job_ids(0, 1)), None)
            oldest = Job.fetch(oldest_id, connection=connection) if oldest_id else None
            enqueued_at = oldest.enqueued_at if oldest is not None else None
            stats.append(
                QueueStats(
                    queue=name,
                    depth=queue.count,
                    oldest_job_age_seconds=(
                        max(0.0, (current - enqueued_at.replace(tzinfo=UTC)).total_seconds())
                        if enqueued_at
                        else 0.0
                    ),
                    failed=FailedJobRegistry(queue=queue).count,
                    workers=Worker.count(queue=queue),
                )
            )
    return stats


# --8<-- [end:queue_stats]


def workers_on(hostname: str) -> int:
    """Count the live workers of a host: those whose registration has not expired in Redis.

    A worker renews its registration with each heartbeat; one that died (or hangs) lets it
    lapse after its TTL, so a liveness probe can ask this.

    Args:
        hostname: The host (a pod's name in Kubernetes).

    Returns:
        How many workers of that host are registered.
    """
    return sum(worker.hostname == hostname for worker in Worker.all(connection=redis_client()))
