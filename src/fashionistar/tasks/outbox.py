"""The sweep: send again what the outbox holds and Redis does not.

Every worker runs :func:`outbox_sweep` in its maintenance pass. An entry older than
``SWEEP_AFTER_S`` is looked up in Redis: a task whose job is missing (the push failed, or a
failover lost it) or queued in no queue (see :func:`popped_and_dropped`) is pushed again; a
job that finished or failed for good settles its entry; a job still queued, scheduled or
running is left alone. An event whose entry is still there
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
from rq import Queue
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
                job = Job.fetch(str(entry.pk), connection=backend.connection)
            except NoSuchJobError:
                status = None
            else:
                status = job.get_status()
                if status == JobStatus.QUEUED and popped_and_dropped(job):
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


# --8<-- [start:popped_and_dropped]
def popped_and_dropped(job: Job) -> bool:
    """Tell whether a job whose status says "queued" is in no queue.

    A worker serving several queues takes a job with ``BLPOP``, then marks it started. If the
    master dies between the two, the replica it promotes may have the pop and not the mark:
    the job stays "queued" forever and no worker will ever see it. (A worker serving one queue
    moves the job to an intermediate list instead, which RQ itself cleans up.)

    Args:
        job: A job whose status was just read as queued.

    Returns:
        True when the job is in neither its queue nor RQ's intermediate list, and its status
        still says queued after that (a worker between its pop and its mark is not a loss).
    """
    queue = Queue(job.origin, connection=job.connection)
    for key in (queue.key, queue.intermediate_queue_key):
        if job.connection.lpos(key, job.id) is not None:
            return False
    return job.get_status(refresh=True) == JobStatus.QUEUED


# --8<-- [end:popped_and_dropped]
