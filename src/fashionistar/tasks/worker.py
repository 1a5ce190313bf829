"""RQ workers for the task queues, with the outbox sweep in their maintenance pass.

``manage.py run_worker [queue ...]`` starts one (all queues by default). Two kinds:

- ``fork`` (default, RQ's ``Worker``): each task runs in a forked child; a child that dies
  (killed, out of memory) fails that attempt and RQ retries it at once. The parent sends
  heartbeats, so a whole worker killed with SIGKILL leaves its task "abandoned" only for
  ``3 x job_monitoring_interval`` before another worker's maintenance retries it.
- ``simple`` (RQ's ``SimpleWorker``): no fork, several times the throughput on short tasks, but
  no heartbeat while a task runs, so a killed worker's task is retried only after the job's
  timeout plus a minute.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from types import FrameType
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.tasks import task_backends
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry

from fashionistar.kernel.redis_client import redis_client
from fashionistar.observability.shutdown import flush
from fashionistar.tasks.outbox import outbox_sweep

logger = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
SCHEDULER_STOP_S = 5.0
"""How long a stopping worker waits for its scheduler process before it kills it."""


# --8<-- [start:stop_that_holds]
class _TaskWorker:
    """What RQ's workers lack here: the outbox sweep in their maintenance, and a stop that holds.

    RQ's SIGTERM handler raises ``StopRequested`` wherever the main thread happens to be; when
    that is inside an ``except Exception`` (a logging handler's ``emit`` is one), the exception
    is swallowed and an idle worker never stops. Here a stop is also a flag, which the next
    maintenance pass (every ``maintenance_interval``) turns into ``StopRequested`` again.

    ``early_stop`` is the event of :func:`serve_queues`' own handlers: a SIGTERM that lands
    while ``work()`` starts (registration, scheduler start) reaches them, not RQ's.
    """

    early_stop: threading.Event | None = None
    _stop_requested: bool

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[misc]

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()  # type: ignore[misc]
        if self.early_stop is not None and self.early_stop.is_set():
            self._stop_requested = True

    def stop_scheduler(self) -> None:
        """Stop the scheduler process; kill it if it is still running after ``SCHEDULER_STOP_S``.

        RQ sends it SIGTERM and waits for it with no limit. A scheduler that had only just been
        forked kept running through that SIGTERM (seen under load, about one stop in four), and
        the worker then waited forever. Killed, it cannot release its locks: this process does.
        """
        scheduler = self.scheduler  # type: ignore[attr-defined]
        process = scheduler._process if scheduler is not None else None
        if process is None or not process.pid:
            return
        process.terminate()
        process.join(SCHEDULER_STOP_S)
        if process.is_alive():
            logger.warning("the scheduler did not stop on SIGTERM; killing it")
            process.kill()
            process.join()
            scheduler.release_locks()

    def run_maintenance_tasks(self) -> None:
        if self._stop_requested:
            raise StopRequested
        super().run_maintenance_tasks()  # type: ignore[misc]
        try:
            outbox_sweep()
        except (DatabaseError, RedisError):
            logger.warning(
                "outbox sweep failed; the next maintenance pass tries again", exc_info=True
            )
        finally:
            connections.close_all()


# --8<-- [end:stop_that_holds]


class ForkingTaskWorker(_TaskWorker, Worker):
    """RQ's forking worker, with a heartbeat short enough to notice a dead worker quickly."""

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Three monitoring intervals: the parent beats once per interval while a task runs.

        Args:
            job: The running job.
            working_time: Seconds it has run.

        Returns:
            Seconds.
        """
        return int(3 * self.job_monitoring_interval)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        """Run the job; in the forked child, flush logs and spans before it ``os._exit``s.

        Args:
            job: The job.
            queue: Its queue.
            execution: RQ's execution record.

        Returns:
            Whether the job succeeded.
        """
        try:
            done: bool = super().perform_job(job, queue, execution)
        finally:
            if self._is_horse:
                flush()
        return done

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        """Close database connections before forking: a child must not share the parent's.

        Args:
            job: The job the child will run.
            queue: Its queue.
        """
        connections.close_all()
        super().fork_work_horse(job, queue)


class SimpleTaskWorker(_TaskWorker, SimpleWorker):
    """RQ's non-forking worker (see the module's docstring for the trade-off)."""


WORKER_CLASSES: dict[str, type[ForkingTaskWorker] | type[SimpleTaskWorker]] = {
    "fork": ForkingTaskWorker,
    "simple": SimpleTaskWorker,
}


def task_queue_names() -> list[str]:
    """Return the queues of the default task backend, sorted.

    Returns:
        The names.
    """
    return sorted(task_backends["default"].queues)


def make_worker(
    *, queues: Sequence[str] = (), kind: str = "fork", **options: Any
) -> ForkingTaskWorker | SimpleTaskWorker:
    """Build a worker for some queues (all by default).

    Args:
        queues: Queue names.
        kind: ``fork`` or ``simple``.
        **options: RQ worker options; ``maintenance_interval`` and
            ``job_monitoring_interval`` default to ``settings.TASK_WORKER``.

    Returns:
        The worker; call ``work(with_scheduler=True)`` on it.
    """
    connection = redis_client(socket_timeout=None)  # dequeueing blocks on BLPOP
    defaults: dict[str, Any] = dict(settings.TASK_WORKER)
    return WORKER_CLASSES[kind](
        [Queue(name, connection=connection) for name in (queues or task_queue_names())],
        connection=connection,
        **{**defaults, **options},
    )


# --8<-- [start:serve_queues]
def serve_queues(*, queues: Sequence[str] = (), kind: str = "fork", burst: bool = False) -> None:
    """Run a worker until told to stop; start a fresh one when it loses Redis.

    RQ's worker gives up when a Redis command fails between jobs (a master that died, a
    failover): it logs "found an unhandled exception, quitting" and returns. A new worker asks
    the Sentinels for the master again, so after a failover it finds the promoted replica.
    Before it starts, the locks of the last worker's scheduler are released: RQ's scheduler
    holds one per queue (valid ``interval + 60`` s), the replica got them from the dead
    master, and the new scheduler could not take over scheduled jobs and retries until they
    expired.

    Args:
        queues: Queue names (all by default).
        kind: ``fork`` or ``simple``.
        burst: Stop when the queues are empty.
    """
    stop = threading.Event()
    serving_pid = os.getpid()

    def request_stop(signum: int, frame: object) -> None:
        if os.getpid() != serving_pid:  # RQ's scheduler, forked before it set its own handlers
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        stop.set()

    worker = None
    while not stop.is_set():
        # RQ installs its own handlers while a worker runs; ours cover the gaps in between.
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        try:
            if worker is not None and worker.scheduler is not None:
                # Its locks, copied to the promoted replica, would hold another 61 s.
                worker.scheduler.release_locks()  # type: ignore[no-untyped-call]
            worker = make_worker(queues=queues, kind=kind)
            worker.early_stop = stop
            worker.work(
                burst=burst, with_scheduler=True, logging_level=settings.TASK_WORKER_LOG_LEVEL
            )
        except RedisError:  # no master yet: the Sentinels are still electing one
            if worker is not None and worker._stop_requested:
                return  # asked to stop: Redis failing on the way out (teardown) changes nothing
            logger.warning("worker cannot reach Redis; trying again", exc_info=True)
        else:
            if burst or worker._stop_requested:  # SIGTERM or SIGINT
                return
            logger.warning("worker stopped without being asked to; starting a new one")
        stop.wait(RESTART_DELAY_S)


# --8<-- [end:serve_queues]


def pending_jobs(queues: Iterable[str]) -> int:
    """Count the jobs queued, scheduled or running in some queues.

    Args:
        queues: Queue names.

    Returns:
        The count.
    """
    connection = redis_client()
    total = 0
    for name in queues:
        queue = Queue(name, connection=connection)
        total += queue.count
        total += ScheduledJobRegistry(queue=queue).count  # type: ignore[no-untyped-call]
        total += StartedJobRegistry(queue=queue).count
    return total


# --8<-- [start:drain]
def drain(*, queues: Sequence[str] = (), timeout_s: float = 30.0, kind: str = "simple") -> None:
    """Run burst workers until the queues are empty, retries included (tests and docs).

    Args:
        queues: Queue names (all by default).
        timeout_s: Give up after this long.
        kind: ``fork`` or ``simple``.

    Raises:
        TimeoutError: Jobs are still pending after ``timeout_s``.
    """
    names = list(queues or task_queue_names())
    deadline = time.monotonic() + timeout_s
    while pending_jobs(names):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{pending_jobs(names)} jobs still pending in {names}")
        make_worker(queues=names, kind=kind).work(burst=True, with_scheduler=True)
        time.sleep(0.05)  # a retry waits in the scheduled registry for its interval


# --8<-- [end:drain]
