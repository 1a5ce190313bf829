"""A ``django.tasks`` backend on RQ: retries with backoff, Django's signals, nothing lost.

Django 6 ships the task API but no production backend, and no retries. This backend is the
glue between that API and RQ (the engine: queues, workers, retries, scheduling):

- ``enqueue()`` writes an :class:`~fashionistar.tasks.models.OutboxEntry` in the caller's
  transaction and pushes the job to RQ once it commits (at once outside a transaction). A
  rolled-back transaction enqueues nothing; a push that fails (Redis down or failing over) is
  repeated by the sweep in the workers (:func:`fashionistar.tasks.outbox.outbox_sweep`).
  Inside :func:`enqueued_together` (every event's handlers run inside it), the tasks are
  written in one ``INSERT`` and pushed in one round trip to Redis.
- Each job carries RQ's ``Retry`` for its queue (``OPTIONS["RETRY"]``), carried out by RQ's
  scheduler; attempts, with their workers and errors, are kept in Redis and shown in the
  ``TaskResult``.
- ``django.tasks.signals`` ``task_enqueued``, ``task_started`` and ``task_finished`` fire
  (``task_finished`` once, after the last attempt).
- The request's context (request id, user, trace) travels with the job and is restored around
  each attempt.

Options (``TASKS["default"]["OPTIONS"]``): ``RETRY`` ``{queue: {"max": 3, "intervals": [1, 2,
4]}}``, ``JOB_TIMEOUT_S`` (default 60), ``RESULT_TTL_S`` (default one day), ``SWEEP_AFTER_S``
(default 30: how old a pending entry must be before the sweep looks at it).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connections, transaction
from django.tasks import TaskResultStatus
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import Task, TaskContext, TaskError, TaskResult
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.json import normalize_json
from django.utils.module_loading import import_string
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from fashionistar.kernel.redis_client import shared_redis_client
from fashionistar.observability import propagation
from fashionistar.observability.metrics import task_timed
from fashionistar.tasks.models import OutboxEntry, OutboxKind
from fashionistar.tasks.settle import outbox_settled

logger = logging.getLogger(__name__)

DEFAULT_RETRY = {"max": 3, "intervals": [1, 2, 4]}
STATUSES = {
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.SCHEDULED: TaskResultStatus.READY,
    JobStatus.DEFERRED: TaskResultStatus.READY,
    JobStatus.STARTED: TaskResultStatus.RUNNING,
    JobStatus.FINISHED: TaskResultStatus.SUCCESSFUL,
    JobStatus.FAILED: TaskResultStatus.FAILED,
    JobStatus.STOPPED: TaskResultStatus.FAILED,
    JobStatus.CANCELED: TaskResultStatus.FAILED,
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and after how long, a queue's failed tasks are tried again.

    Attributes:
        max: Retries after the first attempt (3: four attempts in all).
        intervals: Seconds before each retry; the last one repeats.
    """

    max: int
    intervals: tuple[int, ...]

    def as_rq(self) -> Retry | None:
        """Return RQ's ``Retry``, or ``None`` for no retries.

        Returns:
            The retry.
        """
        return Retry(max=self.max, interval=list(self.intervals)) if self.max else None


class RQTaskBackend(BaseTaskBackend):
    """Run ``django.tasks`` tasks on RQ; see the module's docstring."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        retry = self.options.get("RETRY", {})
        self.retry = {
            queue: RetryPolicy(
                max=int(retry.get(queue, DEFAULT_RETRY)["max"]),
                intervals=tuple(retry.get(queue, DEFAULT_RETRY)["intervals"]),
            )
            for queue in self.queues
        }
        self.job_timeout_s = int(self.options.get("JOB_TIMEOUT_S", 60))
        self.result_ttl_s = int(self.options.get("RESULT_TTL_S", 24 * 3600))
        self.sweep_after_s = float(self.options.get("SWEEP_AFTER_S", 30))
        self._connection: Redis | None = None

    @property
    def connection(self) -> Redis:
        """The Redis master (through Sentinel when configured), on the process's shared pool."""
        if self._connection is None:
            self._connection = shared_redis_client()
        return self._connection

    def rq_queue(self, name: str) -> Queue:
        """Return the RQ queue of a task queue.

        Args:
            name: The queue's name (one of ``QUEUES``).

        Returns:
            The RQ queue.
        """
        return Queue(name, connection=self.connection)

    # --8<-- [start:enqueue]
    def enqueue(self, task: Task[Any, Any], args: Any, kwargs: Any) -> TaskResult[Any, Any]:
        """Write the task to the outbox now; push it to RQ when the transaction commits.

        Args:
            task: The task.
            args: Its positional arguments (JSON: ids and primitives).
            kwargs: Its keyword arguments (JSON).

        Returns:
            The result, ``READY``; its id is the RQ job's id.
        """
        self.validate_task(task)
        entry = OutboxEntry(
            kind=OutboxKind.TASK,
            name=task.module_path,
            queue=task.queue_name,
            payload={
                "args": normalize_json(list(args)),
                "kwargs": normalize_json(dict(kwargs)),
                "run_after": task.run_after.isoformat() if task.run_after else None,
                "context": propagation.capture(),
            },
        )
        batch = _batch.get()
        if batch is not None:
            batch.append((self, entry))  # written and pushed when the block ends
        else:
            entry.save(force_insert=True)
            # Runs at once outside a transaction; never if the transaction rolls back.
            transaction.on_commit(functools.partial(self.push_many, [entry]), robust=True)
        return self._result(entry, task=task, status=TaskResultStatus.READY)

    # --8<-- [end:enqueue]

    def push(self, entry: OutboxEntry) -> bool:
        """Hand an outbox entry to RQ. A failure is logged; the sweep will push it again.

        Args:
            entry: A task entry.

        Returns:
            Whether RQ took it.
        """
        return self.push_many([entry]) == 1

    def push_many(self, entries: list[OutboxEntry]) -> int:
        """Hand outbox entries to RQ in one round trip (RQ alone sends two per job).

        The jobs are queued all together or not at all: on a failure, logged, the sweep pushes
        each of them again.

        Args:
            entries: Task entries.

        Returns:
            How many RQ took: all of them, or none.
        """
        now = timezone.now()
        try:
            with self.connection.pipeline() as pipe:
                for entry in entries:
                    self._queue_on(pipe, entry, now=now)
                pipe.execute()
        except RedisError:  # Redis unreachable, or a failover under way: the sweep retries.
            names = ", ".join(f"{entry.name} {entry.pk}" for entry in entries)
            logger.warning("tasks not pushed to RQ yet: %s", names, exc_info=True)
            return 0
        for entry in entries:
            result = self._result(entry, enqueued_at=now)
            task_enqueued.send(type(self), task_result=result)
        return len(entries)

    def _queue_on(self, pipe: Pipeline, entry: OutboxEntry, *, now: datetime) -> None:
        queue = self.rq_queue(entry.queue)
        payload = entry.payload
        job = queue.create_job(
            run_task,
            args=(entry.name, payload["args"], payload["kwargs"]),
            job_id=str(entry.pk),
            retry=self.retry[entry.queue].as_rq(),
            timeout=self.job_timeout_s,
            result_ttl=self.result_ttl_s,
            failure_ttl=self.result_ttl_s,
            meta={"context": payload.get("context", {})},
        )
        run_after = parse_datetime(payload["run_after"]) if payload["run_after"] else None
        if run_after is not None and run_after > now:
            queue.schedule_job(job, run_after, pipeline=pipe)
        else:
            queue.enqueue_job(job, pipeline=pipe)

    def get_result(self, result_id: str) -> TaskResult[Any, Any]:
        """Read a task's result from RQ (or from the outbox, before it reached RQ).

        Args:
            result_id: The id ``enqueue()`` returned.

        Returns:
            The result, with its attempts and errors.

        Raises:
            TaskResultDoesNotExist: No such task, or its result expired.
        """
        try:
            return result_from_job(Job.fetch(result_id, connection=self.connection), self.alias)
        except NoSuchJobError:
            entry = OutboxEntry.objects.filter(pk=result_id, kind=OutboxKind.TASK).first()
            if entry is None:
                raise TaskResultDoesNotExist(result_id) from None
            return self._result(entry)

    def _result(
        self,
        entry: OutboxEntry,
        *,
        task: Task[Any, Any] | None = None,
        status: TaskResultStatus = TaskResultStatus.READY,
        enqueued_at: datetime | None = None,
    ) -> TaskResult[Any, Any]:
        return TaskResult(
            task=task or task_named(entry.name),
            id=str(entry.pk),
            status=status,
            enqueued_at=enqueued_at,
            started_at=None,
            finished_at=None,
            last_attempted_at=None,
            args=entry.payload["args"],
            kwargs=entry.payload["kwargs"],
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )


_batch: ContextVar[list[tuple[RQTaskBackend, OutboxEntry]] | None] = ContextVar(
    "fashionistar_task_batch", default=None
)


# --8<-- [start:enqueued_together]
@contextmanager
def enqueued_together() -> Iterator[None]:
    """Write the tasks enqueued inside in one ``INSERT``; push them in one round trip at commit.

    The block must run inside the transaction that the tasks belong to (as an event's handlers
    do). If it raises, nothing of it is written, and nothing is pushed. Nested, the outer block
    writes them all.

    Yields:
        Nothing; ``Task.enqueue()`` inside returns its result at once, as it does outside.
    """
    if _batch.get() is not None:
        yield
        return
    batch: list[tuple[RQTaskBackend, OutboxEntry]] = []
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
    OutboxEntry.objects.bulk_create([entry for _, entry in batch])
    for backend in dict.fromkeys(backend for backend, _ in batch):
        entries = [entry for owner, entry in batch if owner is backend]
        transaction.on_commit(functools.partial(backend.push_many, entries), robust=True)


# --8<-- [end:enqueued_together]


def task_named(module_path: str) -> Task[Any, Any]:
    """Import a task by its path.

    Args:
        module_path: ``package.module.function``.

    Returns:
        The task.

    Raises:
        TypeError: The path names something that is not a task.
    """
    found = import_string(module_path)
    if not isinstance(found, Task):
        raise TypeError(f"{module_path} is not a task")
    return found


def _history_key(job: Job, kind: str) -> str:
    return f"fashionistar:task:{job.id}:{kind}"


def _record(pipe: Pipeline, job: Job, kind: str, value: str) -> None:
    # A list of its own, appended atomically: RQ rewrites the job's hash (meta included) at
    # several points of a retry, and an attempt killed mid-task must still count.
    key = _history_key(job, kind)
    pipe.rpush(key, value)
    pipe.expire(key, max(job.result_ttl or 0, job.failure_ttl or 0, 24 * 3600))


def _history(job: Job, kind: str) -> list[str]:
    return _decoded(job.connection.lrange(_history_key(job, kind), 0, -1))


def _decoded(items: list[Any]) -> list[str]:
    return [item.decode() if isinstance(item, bytes) else str(item) for item in items]


def result_from_job(
    job: Job, backend: str, *, history: tuple[list[str], list[str]] | None = None
) -> TaskResult[Any, Any]:
    """Build Django's view of an RQ job: status, attempts (with their workers) and errors.

    Args:
        job: The job.
        backend: The backend's alias.
        history: Its errors and workers, when already read (else they are read now).

    Returns:
        The result.
    """
    module_path, args, kwargs = job.args
    errors, workers = history or (_history(job, "errors"), _history(job, "workers"))
    status = STATUSES.get(job.get_status(refresh=False), TaskResultStatus.READY)
    result: TaskResult[Any, Any] = TaskResult(
        task=task_named(module_path),
        id=job.id,
        status=status,
        enqueued_at=job.enqueued_at,
        started_at=job.started_at,
        finished_at=job.ended_at if status in {"SUCCESSFUL", "FAILED"} else None,
        last_attempted_at=job.started_at,
        args=args,
        kwargs=kwargs,
        backend=backend,
        errors=[TaskError(**json.loads(error)) for error in errors],
        worker_ids=workers,
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", job.return_value())
    return result


# --8<-- [start:run_task]
def _close_broken_connections() -> None:
    """Close this thread's database connections that saw an error.

    Django reuses a connection until something closes it, and a simple worker runs its next
    task (the retry too) in this thread: after PgBouncer restarted, every task would fail on
    the dead connection until the maintenance pass closes it. Closed, the next task connects.
    """
    for connection in connections.all(initialized_only=True):
        if connection.errors_occurred:
            with contextlib.suppress(DatabaseError):
                connection.close()


def run_task(module_path: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run one attempt of a task inside an RQ worker (RQ calls this; nothing else should).

    Records the attempt in Redis before running, so an attempt killed with SIGKILL still
    counts; restores the enqueuing request's context; fires Django's signals. On success the
    outbox entry goes (at once, or with the simple worker's next batch); on the last failed
    attempt it is marked failed; other failures are raised for RQ to retry.

    Args:
        module_path: The task's import path.
        args: Its positional arguments.
        kwargs: Its keyword arguments.

    Returns:
        The task's return value (JSON).
    """
    job = get_current_job()
    if job is None:
        raise RuntimeError("run_task runs inside an RQ worker")
    task = task_named(module_path)
    backend = task.get_backend()
    with job.connection.pipeline() as pipe:  # one round trip: the attempt, then the history
        _record(pipe, job, "workers", job.worker_name or f"pid-{os.getpid()}")
        pipe.lrange(_history_key(job, "errors"), 0, -1)
        pipe.lrange(_history_key(job, "workers"), 0, -1)
        *_, errors, workers = pipe.execute()
    result = result_from_job(job, backend.alias, history=(_decoded(errors), _decoded(workers)))
    object.__setattr__(result, "status", TaskResultStatus.RUNNING)
    context = job.meta["context"]
    with propagation.restore(context, attempt=result.attempts, name=module_path):
        task_started.send(type(backend), task_result=result)
        try:
            with task_timed(queue=job.origin):
                if task.takes_context:
                    value = task.call(TaskContext(task_result=result), *args, **kwargs)
                else:
                    value = task.call(*args, **kwargs)
        except Exception as error:
            try:
                _attempt_failed(job, result, error, backend=backend)
            finally:
                _close_broken_connections()
            raise
        outbox_settled(job.id)
        object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
        object.__setattr__(result, "_return_value", normalize_json(value))
        task_finished.send(type(backend), task_result=result)
    return result.return_value


# --8<-- [end:run_task]


def _attempt_failed(
    job: Job, result: TaskResult[Any, Any], error: Exception, *, backend: BaseTaskBackend
) -> None:
    kind = type(error)
    failure = TaskError(
        exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
        traceback=traceback.format_exc(),
    )
    with job.connection.pipeline() as pipe:
        _record(pipe, job, "errors", json.dumps(asdict(failure)))
        pipe.execute()
    result.errors.append(failure)
    if job.retries_left:
        logger.warning(
            "task %s attempt %s failed; %s retries left",
            job.id,
            result.attempts,
            job.retries_left,
            exc_info=True,
        )
        return
    OutboxEntry.objects.filter(pk=job.id).update(failed_at=timezone.now())
    object.__setattr__(result, "status", TaskResultStatus.FAILED)
    task_finished.send(type(backend), task_result=result)
