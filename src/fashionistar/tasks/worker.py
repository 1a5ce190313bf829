"""RQ workers for the task queues, with the outbox sweep in their maintenance pass.

``manage.py run_worker [queue ...]`` starts one (all queues by default); with ``--processes N``
it starts N, each a process of its own, and replaces any that dies (:func:`serve_processes`).
Two kinds:

- ``fork`` (the default, the safe choice for tasks nobody measured; RQ's ``Worker``): each
  task runs in a child forked for it. A child that dies (killed, out of memory) fails that
  attempt and RQ retries it at once; what a task leaks or changes in memory goes with its
  child. The parent beats for the running task, so a worker killed with SIGKILL leaves its task
  "abandoned" only for ``3 x job_monitoring_interval`` before another worker's maintenance
  retries it. A fork per task costs several times what a short task costs itself
  (``benchmarks/tasks_throughput.py``).
- ``simple`` (RQ's ``SimpleWorker``): each task runs in the worker's process. A thread beats
  for the running task as the forking worker's parent does (:class:`TaskHeartbeat`): a killed
  worker's task is retried as soon; a task still running ``3 x job_monitoring_interval`` after
  its timeout ends its worker, as the forking parent kills its child.

What the deploy files run, and why: ``run_worker [queue] --kind simple --processes 2`` in every
worker container (each of Compose's services, one per queue, and each pod of the Kubernetes
Deployment, on every queue).

- ``simple``, because the shop's tasks are short (a mail, an analytics row, a status check) and
  forking dominates them: a forking worker runs several times fewer tasks per core, too few for
  30,000 tasks a minute on 2 cores. What forking gives, the shop gets otherwise: the heartbeat
  retries a killed worker's task as soon as a forking worker's; a runaway task ends its worker,
  as a forking parent kills its child; a crash takes down one process, which
  :func:`serve_processes` replaces; and the tasks are idempotent service calls that keep no
  state between runs. A queue of tasks that leak memory, or that load libraries one should
  not trust with the worker's process, is where ``--kind fork`` still belongs.
- Two processes per container, because one simple worker is one thread that waits for Redis
  at each of its round trips of a task: two keep 2 cores busy, and measured the most tasks per
  minute of one, two and three (three contend for the cores with Redis and PostgreSQL).
- Every worker starts with its scheduler: RQ's lock per queue lets one of them schedule, and
  another takes over once the lock of one that died lapses.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from types import FrameType
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.tasks import task_backends
from redis.client import Pipeline, PubSub
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from rq.utils import now
from rq.worker import WorkerStatus

from fashionistar.kernel.redis_client import redis_client
from fashionistar.observability.shutdown import flush, flush_logs
from fashionistar.tasks.outbox import outbox_sweep
from fashionistar.tasks.settle import settling_in_batches

logger = logging.getLogger(__name__)

RESTART_DELAY_S = 1.0
SCHEDULER_STOP_S = 5.0
"""How long a stopping worker waits for its scheduler process before it kills it."""
BEAT_SLACK_S = 1.0
"""A worker's registration may lapse this much earlier than RQ's own beats would keep it, and
a suspension reach it this much later."""


# --8<-- [start:command_channel]
class _CommandChannel(PubSub):
    """A worker's command channel, which its listening thread and the worker close in turn.

    The thread closes the channel once it sees its stop; the worker, leaving, wakes it with
    UNSUBSCRIBE. A stop that came before the thread first waited for a message let the two meet
    on one socket, and UNSUBSCRIBE went to a socket being closed (broken pipe, bad file
    descriptor). The lock keeps them apart; a channel the thread has closed is left alone.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._socket_lock = threading.Lock()

    def close(self) -> None:
        with self._socket_lock:
            super().close()

    def wake_listener(self) -> None:
        """Send UNSUBSCRIBE, whose reply wakes the listening thread, unless it closed already."""
        with self._socket_lock:
            if self.connection is not None:
                self.unsubscribe()


# --8<-- [end:command_channel]


class _RoundTrips:
    """RQ's bookkeeping of a task, as both kinds of worker here do it: in fewer round trips.

    A short task's time in a worker is mostly waiting for Redis, one round trip after another
    (``benchmarks/tasks_throughput.py``): here the ones that change nothing are not sent.
    """

    job_monitoring_interval: int
    worker_ttl: int
    _state: str
    _registered_until = 0.0
    """When the worker's registration lapses, by ``time.monotonic()``, as its last beat set."""
    _suspension_checked_at = -BEAT_SLACK_S

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """Three monitoring intervals: a heartbeat comes once per interval while a task runs.

        Args:
            job: The running job.
            working_time: Seconds it has run.

        Returns:
            Seconds.
        """
        return int(3 * self.job_monitoring_interval)

    def heartbeat(self, timeout: int | None = None, pipeline: Pipeline | None = None) -> None:
        """RQ's worker heartbeat: one round trip to Redis, or none if it would change nothing.

        RQ sends its three commands one at a time, and beats three times a task (after the
        task, then before and after dequeueing the next): a quarter of a short task's round
        trips. Here a beat that RQ sends alone is one pipeline, and it is not sent at all when
        the last one, less than ``BEAT_SLACK_S`` ago, already keeps the registration as long.
        The beat of a task's start (in RQ's pipeline, with a shorter time to live) always goes.

        Args:
            timeout: Seconds the worker's registration lives (RQ's default when ``None``).
            pipeline: A pipeline to add the commands to.
        """
        lives_s = timeout or self.worker_ttl + 60
        beat_at = time.monotonic()
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
        elif self._registered_until < beat_at + lives_s - BEAT_SLACK_S:
            with self.connection.pipeline(transaction=False) as own:  # type: ignore[attr-defined]
                super().heartbeat(timeout, own)  # type: ignore[misc]
                own.execute()
        else:
            return
        self._registered_until = beat_at + lives_s

    def set_state(self, state: str, pipeline: Pipeline | None = None) -> None:
        """RQ's worker state, not sent again when the worker already has it.

        RQ marks a worker idle after each task and again before it waits for the next.

        Args:
            state: The state.
            pipeline: A pipeline to add the command to.
        """
        if pipeline is None and state == self._state:
            return
        super().set_state(state, pipeline)  # type: ignore[misc]

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's check for ``rq suspend``, asked of Redis at most once per ``BEAT_SLACK_S``.

        RQ asks before every task; a suspension now reaches a busy worker within that time.

        Args:
            burst: Whether the worker stops when its queues are empty.
        """
        checked_at = time.monotonic()
        if checked_at < self._suspension_checked_at + BEAT_SLACK_S:
            return
        super().check_for_suspension(burst)  # type: ignore[misc]
        self._suspension_checked_at = checked_at


# --8<-- [start:stop_that_holds]
class _TaskWorker(_RoundTrips):
    """What RQ's workers lack here: the outbox sweep in maintenance, a stop that holds and is quick.

    RQ's SIGTERM handler raises ``StopRequested`` wherever the main thread happens to be; when
    that is inside an ``except Exception`` (a logging handler's ``emit`` is one), the exception
    is swallowed and an idle worker never stops. Here a stop is also a flag, which the next
    maintenance pass (every ``maintenance_interval``) turns into ``StopRequested`` again.

    ``early_stop`` is the event of :func:`serve_queues`' own handlers: a SIGTERM that lands
    while ``work()`` starts (registration, scheduler start) reaches them, not RQ's. One that
    RQ's handler takes the moment it is installed raises ``StopRequested`` before RQ's loop
    could catch it; the flag keeps it instead.
    """

    early_stop: threading.Event | None = None
    _stop_requested: bool

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requested = True
        super().request_stop(signum, frame)  # type: ignore[misc]

    def _install_signal_handlers(self) -> None:
        # RQ's handler may take a pending signal as soon as it is in place, before RQ's loop
        # catches StopRequested: request_stop has set the flag, and the loop stops on it.
        with contextlib.suppress(StopRequested):
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

    def subscribe(self) -> None:
        """Listen for commands (shutdown, stop a job) as RQ does, on a :class:`_CommandChannel`."""
        rq_worker: Any = self
        rq_worker.log.info("subscribing to channel %s", rq_worker.pubsub_channel_name)
        channel = _CommandChannel(rq_worker.connection.connection_pool)
        channel.subscribe(**{rq_worker.pubsub_channel_name: rq_worker.handle_payload})
        rq_worker.pubsub = channel
        rq_worker.pubsub_thread = channel.run_in_thread(
            sleep_time=60, daemon=True, exception_handler=rq_worker._pubsub_exception_handler
        )

    def unsubscribe(self) -> None:
        """Leave the worker's command channel and end its listening thread without a wait.

        RQ sends UNSUBSCRIBE, then stops the thread. The reply wakes the thread, which, not
        yet told to stop, waits up to 60 s for a new subscription; since redis-py 8.2,
        ``PubSubWorkerThread.stop()`` joins the thread, so a stop often took that long. Told to
        stop first, the thread ends on the reply, and the channel keeps the two from racing.
        """
        rq_worker: Any = self
        listener, channel = rq_worker.pubsub_thread, rq_worker.pubsub
        if listener is None:
            return
        listener.stop(timeout=0)
        channel.wake_listener()
        listener.join(timeout=1)
        channel.close()

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
    """RQ's forking worker: each task in a child process, which the parent beats for."""

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


# --8<-- [start:simple_heartbeat]
class TaskHeartbeat:
    """Beat for the task a simple worker runs, from a thread, as a forking worker's parent does.

    While its child runs a task, RQ's forking worker renews its own registration and the task's
    place in the started-job registry every ``job_monitoring_interval``
    (``Worker.monitor_work_horse`` calls ``maintain_heartbeats``). A worker killed with SIGKILL
    renews nothing, and ``3 x job_monitoring_interval`` later another worker's maintenance
    retries its task. RQ's ``SimpleWorker`` runs the task in its only thread and renews nothing
    until the task ends; this daemon thread does it instead.

    The forking worker's parent also kills a child still running well past the job's timeout.
    Here SIGALRM stops a task at its timeout; one still running ``3 x job_monitoring_interval``
    later ignores it (blocked signal, C code that never returns): the thread ends its own
    process, and the task is retried like a killed worker's.
    """

    def __init__(self, worker: SimpleTaskWorker) -> None:
        self.worker = worker
        self._lock = threading.Lock()  # held during a beat: none starts once the task ended
        self._running: tuple[Job, Execution] | None = None
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def beating(self, job: Job, execution: Execution) -> Iterator[None]:
        """Beat for a job while the block runs (the thread starts with the first job).

        Args:
            job: The job.
            execution: RQ's execution record.

        Yields:
            Nothing.
        """
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="task-heartbeat", daemon=True)
            self._thread.start()
        with self._lock:
            self._running = (job, execution)
        try:
            yield
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop beating for the current job; returns once a beat under way is done."""
        with self._lock:
            self._running = None

    def close(self) -> None:
        """End the thread (the worker is done)."""
        self._closed.set()

    def _beat(self) -> None:
        interval = self.worker.job_monitoring_interval
        while not self._closed.wait(interval):
            with self._lock:
                if self._running is None:
                    continue
                job, execution = self._running
                if self._overdue_s(job) > 3 * interval:
                    self._end_worker(job)
                try:
                    self.worker.maintain_heartbeats(job, execution)
                except RedisError:
                    logger.warning("heartbeat of task %s failed", job.id, exc_info=True)

    def _end_worker(self, job: Job) -> None:
        logger.error(
            "task %s is still running %.0f s after its timeout: ending this worker; "
            "the task will be retried",
            job.id,
            self._overdue_s(job),
        )
        flush_logs()
        self.worker.stop_scheduler()
        os._exit(1)  # a SIGKILL would not end PID 1 of a container

    def _overdue_s(self, job: Job) -> float:
        timeout = job.timeout or self.worker.queue_class.DEFAULT_TIMEOUT
        if job.started_at is None or timeout == -1:
            return 0.0
        return (now() - job.started_at).total_seconds() - timeout


class SimpleTaskWorker(_TaskWorker, SimpleWorker):
    """RQ's non-forking worker, with a heartbeat while a task runs (:class:`TaskHeartbeat`).

    It deletes the outbox entries of the tasks that succeeded in batches, from a thread
    (:func:`~fashionistar.tasks.settle.settling_in_batches`), not one per task.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task_heartbeat = TaskHeartbeat(self)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        """RQ's loop, with the outbox entries of succeeded tasks deleted in batches.

        Args:
            *args: RQ's.
            **kwargs: RQ's.

        Returns:
            RQ's answer: whether the worker ran any job.
        """
        with settling_in_batches():
            return bool(super().work(*args, **kwargs))

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job in this process while the heartbeat thread beats for it.

        Args:
            job: The job.
            queue: Its queue.
        """
        execution = self.prepare_execution(job)
        with self.task_heartbeat.beating(job, execution):
            self.perform_job(job, queue, execution)
        self.set_state(WorkerStatus.IDLE)

    def handle_execution_ended(self, job: Job, queue: Queue, heartbeat_ttl: int) -> None:
        """Stop beating before RQ settles the job: no beat races its clean-up.

        Args:
            job: The job.
            queue: Its queue.
            heartbeat_ttl: RQ's time to live of the job's last heartbeat.
        """
        self.task_heartbeat.stop()
        super().handle_execution_ended(job, queue, heartbeat_ttl)

    def teardown(self) -> None:
        """End the heartbeat thread with the worker."""
        self.task_heartbeat.close()
        super().teardown()  # type: ignore[no-untyped-call]


# --8<-- [end:simple_heartbeat]


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
    # RQ applies the level to its own logger only; Django's task signals log two lines per task.
    logging.getLogger("django.tasks").setLevel(settings.TASK_WORKER_LOG_LEVEL)

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


# --8<-- [start:serve_processes]
def serve_processes(*, processes: int, queues: Sequence[str] = (), kind: str = "simple") -> None:
    """Run several workers, each a ``run_worker`` process; start a new one when one dies.

    A task that crashes its process (killed for memory, a segfault, a runaway task that
    :class:`TaskHeartbeat` ends) takes one worker down, not the others: its task is retried
    like any killed worker's, what the dead worker left (its scheduler) is killed, and a new
    worker takes its place. Each worker has a process group of its own, so a terminal's Ctrl-C
    reaches only this process; SIGTERM or SIGINT here is passed on to each worker once, as
    SIGTERM (a second signal would make RQ abandon the task under way): each finishes its task,
    then this process returns. Killed with SIGKILL, it leaves its workers running (not in a
    container, where it is the first process: its end ends every other).

    Args:
        processes: How many worker processes.
        queues: Queue names (all by default).
        kind: ``fork`` or ``simple``.
    """
    received: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    # The workers serve no metrics: this process serves theirs (PROMETHEUS_MULTIPROC_DIR).
    command = [sys.executable, "-m", "django", "run_worker", *queues, "--kind", kind]
    command += ["--metrics-port", "0"]
    workers = [subprocess.Popen(command, process_group=0) for _ in range(processes)]
    while not received:
        for index, worker in enumerate(workers):
            if worker.poll() is not None:
                logger.warning(
                    "worker process %s exited with %s; starting a new one",
                    worker.pid,
                    worker.returncode,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.pid, signal.SIGKILL)
                workers[index] = subprocess.Popen(command, process_group=0)
        time.sleep(RESTART_DELAY_S)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait()


# --8<-- [end:serve_processes]


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
