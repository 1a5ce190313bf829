"""Deleting the outbox entry of a task that succeeded: at once, or in batches from a thread.

A task's entry goes once its task succeeded (:func:`outbox_settled`, which ``run_task`` calls).
A forking worker's child deletes it at once: the child ends with the task. A simple worker
collects the ids instead and deletes them in one statement every ``BATCH_EVERY_S``, from a
thread of its own (:class:`SettleInBatches`): that round trip to the database was the largest
share of a short task's time in the worker (``benchmarks/tasks_throughput.py``).

Nothing is lost when a batch is: an entry left behind is one the sweep finds older than
``SWEEP_AFTER_S``, and its job finished in Redis, which keeps finished jobs for
``RESULT_TTL_S``: the sweep deletes the entry then (:func:`fashionistar.tasks.outbox.outbox_sweep`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from django.db import DatabaseError, connections

from fashionistar.tasks.models import OutboxEntry

logger = logging.getLogger(__name__)

BATCH_EVERY_S = 0.2


class SettleInBatches:
    """Collect the ids of succeeded tasks; delete their entries in batches from a thread."""

    def __init__(self, *, every_s: float = BATCH_EVERY_S) -> None:
        """Batch deletes every ``every_s`` seconds (the thread starts with the first id).

        Args:
            every_s: Seconds between two deletes.
        """
        self.every_s = every_s
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, pk: str) -> None:
        """Delete this entry with the next batch.

        Args:
            pk: The entry's id (its task's).
        """
        with self._lock:
            self._pending.append(pk)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="outbox-settle", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Delete what is pending and end the thread."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._closed.wait(self.every_s):
                self._delete()
            self._delete()
        finally:
            connections.close_all()  # this thread's own

    def _delete(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            OutboxEntry.objects.filter(pk__in=batch).delete()
        except DatabaseError:
            logger.warning(
                "%s outbox entries of finished tasks not deleted; the sweep will",
                len(batch),
                exc_info=True,
            )
            # Django keeps a connection that failed until something closes it: the next batch
            # would fail on it again (PgBouncer restarted, say). The next one connects anew.
            with contextlib.suppress(DatabaseError):
                connections.close_all()


_batches: SettleInBatches | None = None


def outbox_settled(pk: str) -> None:
    """Delete a succeeded task's outbox entry, at once or with this process's next batch.

    Args:
        pk: The entry's id (its task's).
    """
    if _batches is None:
        OutboxEntry(pk=pk).delete()  # one DELETE; a queryset's wraps it in a transaction
    else:
        _batches.add(pk)


@contextlib.contextmanager
def settling_in_batches(*, every_s: float = BATCH_EVERY_S) -> Iterator[SettleInBatches]:
    """Within the block, :func:`outbox_settled` batches; the batch pending at its end is deleted.

    Args:
        every_s: Seconds between two deletes.

    Yields:
        The batches.
    """
    global _batches
    batches = SettleInBatches(every_s=every_s)
    _batches = batches
    try:
        yield batches
    finally:
        _batches = None
        batches.close()
