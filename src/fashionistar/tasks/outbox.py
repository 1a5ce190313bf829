"""The sweep: send again what the outbox holds and Redis does not.

Every worker runs :func:`outbox_sweep` in its maintenance pass. An entry older than
``SWEEP_AFTER_S`` is looked up in Redis: a task whose job is missing (the push failed, or a
failover lost it) is pushed again; a job that finished or failed for good settles its entry;
a job still queued, scheduled or running is left alone. An event whose entry is still there
(the web process died between commit and dispatch) is dispatched again. Rows are claimed with
``FOR UPDATE SKIP LOCKED``, so several workers sweep at once without doing anything twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.tasks import task_backends
from django.utils import timezone
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from fashionistar.events.bus import redispatch
from fashionistar.tasks.backend import RQTaskBackend
from fashionistar.tasks.models import OutboxEntry, OutboxKind

logger = logging.getLogger(__name__)

FAILED_FOR_GOOD = frozenset({JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


@dataclass
class SweepReport:
    """What one sweep did.

    Attributes:
        pushed: Tasks pushed to RQ again.
        settled: Entries whose job had finished or failed for good.
        dispatched: Events dispatched again.
        waiting: Entries whose job is still queued, scheduled or running.
    """

    pushed: int = 0
    settled: int = 0
    dispatched: int = 0
    waiting: int = 0


# --8<-- [start:outbox_sweep]
def outbox_sweep(*, now: datetime | None = None, limit: int = 500) -> SweepReport:
    """Re-send the outbox entries that Redis or a process lost.

    Args:
        now: The current time (for tests).
        limit: The most entries to look at in one sweep.

    Returns:
        What was done.
    """
    backend = task_backends["default"]
    if not isinstance(backend, RQTaskBackend):
        raise TypeError("the outbox sweep needs the RQ task backend")
    report = SweepReport()
    cutoff = (now or timezone.now()) - timedelta(seconds=backend.sweep_after_s)
    with transaction.atomic():
        entries = list(
            OutboxEntry.objects.select_for_update(skip_locked=True)
            .filter(failed_at__isnull=True, created_at__lt=cutoff)
            .order_by("created_at")[:limit]
        )
        for entry in entries:
            if entry.kind == OutboxKind.EVENT:
                redispatch(entry)
                report.dispatched += 1
                continue
            try:
                status = Job.fetch(str(entry.pk), connection=backend.connection).get_status()
            except NoSuchJobError:
                status = None
            if status is None:
                report.pushed += backend.push(entry)
            elif status == JobStatus.FINISHED:
                entry.delete()
                report.settled += 1
            elif status in FAILED_FOR_GOOD:
                OutboxEntry.objects.filter(pk=entry.pk).update(failed_at=timezone.now())
                report.settled += 1
            else:
                report.waiting += 1
    if report.pushed or report.dispatched:
        logger.warning("outbox sweep re-sent what was lost: %s", report)
    return report


# --8<-- [end:outbox_sweep]
