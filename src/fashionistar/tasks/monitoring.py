"""Queue health, read from RQ's own registries in Redis: depth, oldest job, failures, workers.

:class:`QueueCollector` exposes the figures on ``/metrics`` (``TasksConfig.ready()`` adds it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq import Queue, Worker
from rq.job import Job
from rq.registry import FailedJobRegistry

from fashionistar.kernel.redis_client import redis_client
from fashionistar.tasks.worker import task_queue_names

logger = logging.getLogger(__name__)


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


class QueueCollector(Collector):
    """Gauges per queue, read from Redis when Prometheus scrapes.

    If reading the queues fails (Redis does not answer, a job vanishes while it is read), the
    scrape still succeeds without these gauges, and the error is logged: the request metrics
    are most needed exactly then.
    """

    def __init__(self, stats: Callable[[], Sequence[QueueStats]]) -> None:
        """Read queue figures with ``stats``.

        Args:
            stats: Returns one entry per queue.
        """
        self.stats = stats

    def describe(self) -> Iterable[Metric]:
        """Describe nothing up front, so registering does not reach Redis.

        Returns:
            No metrics.
        """
        return []

    def collect(self) -> Iterable[Metric]:
        """Read the queues and yield their gauges.

        Yields:
            Depth, oldest job age, failed jobs and live workers, labelled by queue.
        """
        try:
            stats = self.stats()
        except Exception:  # any failure here must not fail the scrape (it is logged)
            logger.warning("Queue metrics skipped: the queues could not be read", exc_info=True)
            return
        families = {
            "depth": GaugeMetricFamily(
                "fashionistar_task_queue_depth", "Jobs waiting in the queue.", labels=["queue"]
            ),
            "oldest_job_age_seconds": GaugeMetricFamily(
                "fashionistar_task_oldest_job_age_seconds",
                "Age of the oldest waiting job (0 when none waits).",
                labels=["queue"],
            ),
            "failed": GaugeMetricFamily(
                "fashionistar_task_failed_jobs", "Jobs in the failed registry.", labels=["queue"]
            ),
            "workers": GaugeMetricFamily(
                "fashionistar_task_workers",
                "Live workers listening on the queue.",
                labels=["queue"],
            ),
        }
        for entry in stats:
            for field, family in families.items():
                family.add_metric([entry.queue], float(getattr(entry, field)))
        yield from families.values()
