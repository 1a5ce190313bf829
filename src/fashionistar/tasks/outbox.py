"""The sweep: push again what the outbox holds and Redis does not.

Every worker runs :func:`outbox_sweep` in its maintenance pass. It claims a batch of entries
older than ``SWEEP_AFTER_S`` in one short transaction (``FOR UPDATE SKIP LOCKED``, then a lease
in ``claimed_until``, so several workers never look at the same entry), commits, and only then
asks Redis about each one: no database lock or transaction is held across a network call. A task
whose job is missing (the push failed, or a failover lost it) or queued in no queue (see
:func:`popped_and_dropped`) is pushed again; a job that finished or failed for good settles its
entry; a job still queued, scheduled or running is left alone. A Redis error on one entry is
logged, and the sweep goes on with the next.

What that guarantees, and what not: every committed task runs at least once. The sweep pushes
the entries it finds oldest first, but a lost entry is pushed again after the entries that were
never lost, newer ones of the same transaction included, and those may have run already (the
queues are served in parallel, and a retry runs later too). Tasks have no order, then: each one
is idempotent and reads the state it acts on when it runs (the payment deadline cancels an order
only if it is still unpaid; the confirmation claims its order once).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.tasks import task_backends
from django.utils import timezone
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from fashionistar.tasks.backend import RQTaskBackend
from fashionistar.tasks.models import OutboxEntry

logger = logging.getLogger(__name__)

FAILED_FOR_GOOD = frozenset({JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED})


@dataclass
class SweepReport:
    """What one sweep did.

    Attributes:
        pushed: Tasks pushed to RQ again.
        settled: Entries whose job had finished or failed for good.
        waiting: Entries whose job is still queued, scheduled or running, or whose push failed.
        unread: Entries Redis could not be asked about (left for the next sweep).
    """

    pushed: int = 0
    settled: int = 0
    waiting: int = 0
    unread: int = 0


def outbox_claim(*, now: datetime, older_than_s: float, limit: int) -> list[OutboxEntry]:
    """Take pending entries for one sweep, in one short transaction, and let go of the locks.

    Args:
        now: The current time.
        older_than_s: Only entries at least this old (their own push may still be under way).
        limit: The most entries to take.

    Returns:
        The entries, oldest first; other sweeps skip them until the lease ends.
    """
    with transaction.atomic():
        claimed = list(
            OutboxEntry.objects.select_for_update(skip_locked=True)
            .filter(failed_at__isnull=True, created_at__lt=now - timedelta(seconds=older_than_s))
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("created_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        OutboxEntry.objects.filter(pk__in=claimed).update(
            claimed_until=now + timedelta(seconds=older_than_s)
        )
    return list(OutboxEntry.objects.filter(pk__in=claimed).order_by("created_at", "pk"))


# --8<-- [start:outbox_sweep]
def outbox_sweep(*, now: datetime | None = None, limit: int = 500) -> SweepReport:
    """Push again the outbox entries that Redis or a process lost.

    Args:
        now: The current time (for tests).
        limit: The most entries to look at in one sweep.

    Returns:
        What was done.

    Raises:
        TypeError: The default task backend is not the RQ one.
    """
    backend = task_backends["default"]
    if not isinstance(backend, RQTaskBackend):
        raise TypeError("the outbox sweep needs the RQ task backend")
    report = SweepReport()
    claimed = outbox_claim(
        now=now or timezone.now(), older_than_s=backend.sweep_after_s, limit=limit
    )
    for entry in claimed:  # no transaction is open from here on
        try:
            status = job_status(entry, backend)
        except RedisError:
            logger.warning(
                "outbox entry %s: Redis did not answer, next sweep", entry.pk, exc_info=True
            )
            report.unread += 1
            continue
        if status is None:
            pushed = backend.push(entry)
            report.pushed += pushed
            report.waiting += not pushed
        elif status == JobStatus.FINISHED:
            entry.delete()
            report.settled += 1
        elif status in FAILED_FOR_GOOD:
            OutboxEntry.objects.filter(pk=entry.pk).update(failed_at=timezone.now())
            report.settled += 1
        else:
            report.waiting += 1
    if report.pushed or report.unread:
        logger.warning("outbox sweep: %s", report)
    return report


# --8<-- [end:outbox_sweep]


def job_status(entry: OutboxEntry, backend: RQTaskBackend) -> JobStatus | None:
    """Ask Redis what became of an entry's job.

    Args:
        entry: A task entry.
        backend: The backend whose Redis holds the job.

    Returns:
        The job's status, or ``None`` when Redis has no job to run (never pushed, lost, or
        popped and dropped).
    """
    try:
        job = Job.fetch(str(entry.pk), connection=backend.connection)
    except NoSuchJobError:
        return None
    status = job.get_status()
    if status == JobStatus.QUEUED and popped_and_dropped(job):
        return None
    return status


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
