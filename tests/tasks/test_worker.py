"""A worker stops on SIGTERM wherever the signal lands: during start-up, or inside code that
swallows exceptions (RQ's handler raises one). It sends no beat, state or suspension check to
Redis that would change nothing, and its registration never stays short. A simple worker beats
for its task while it runs, and ends itself when a task outlives its timeout. It leaves its
command channel without waiting out the listening thread, or racing it. ``--processes`` keeps
its workers running."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.tasks import TaskResultStatus, task_backends
from rq import Queue
from rq.exceptions import StopRequested
from rq.registry import clean_registries
from rq.suspension import suspend
from rq.worker import WorkerStatus

from fashionistar.kernel.redis_client import redis_client
from fashionistar.tasks.monitoring import queue_stats
from fashionistar.tasks.probe import echo
from fashionistar.tasks.worker import BEAT_SLACK_S, make_worker
from tests.processes import child_pids, spawn_worker, stop, wait_for, wait_gone
from tests.tasks.sample_tasks import deaf_sleep, slow_mark

pytestmark = pytest.mark.django_db(transaction=True)  # maintenance sweeps the outbox


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """RQ's worker replaces the test run's SIGTERM and SIGINT handlers: put them back."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.fixture
def short_thread_switches() -> Iterator[None]:
    """Switch threads every 10 microseconds, 500 times as often as Python does: races show."""
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.00001)
    yield
    sys.setswitchinterval(saved)


def test_a_stop_whose_exception_was_swallowed_is_raised_again_at_maintenance(
    clean_redis, signal_handlers
) -> None:
    worker = make_worker(queues=["critical"])
    with contextlib.suppress(StopRequested):  # as `except Exception` in a logging handler does
        worker.request_stop(signal.SIGTERM, None)
    with pytest.raises(StopRequested):
        worker.run_maintenance_tasks()


def test_a_stop_that_came_before_rq_took_the_signals_over_is_kept(
    clean_redis, signal_handlers
) -> None:
    worker = make_worker(queues=["critical"])
    worker.early_stop = threading.Event()
    worker._install_signal_handlers()
    worker.run_maintenance_tasks()  # no stop asked: a normal pass
    worker.early_stop.set()
    worker._install_signal_handlers()
    with pytest.raises(StopRequested):
        worker.run_maintenance_tasks()


class SignalledWhileChecked(threading.Event):
    """An early stop not set, but a SIGTERM comes in while it is checked: RQ's handler is in."""

    def is_set(self) -> bool:
        signal.raise_signal(signal.SIGTERM)
        return False


def test_a_stop_that_rqs_handler_takes_as_it_is_installed_is_kept(
    clean_redis, signal_handlers
) -> None:
    worker = make_worker(queues=["critical"])
    worker.early_stop = SignalledWhileChecked()

    worker._install_signal_handlers()  # RQ's loop has not begun: StopRequested must not escape

    assert worker._stop_requested
    with pytest.raises(StopRequested):
        worker.run_maintenance_tasks()


def test_a_beat_that_would_change_nothing_is_not_sent_and_a_shortened_one_is_renewed(
    clean_redis,
) -> None:
    worker = make_worker(queues=["critical"], kind="simple")
    worker.register_birth()
    worker.heartbeat()
    sent = worker.connection.hget(worker.key, "last_heartbeat")
    worker.heartbeat()  # RQ beats again around each dequeue
    assert worker.connection.hget(worker.key, "last_heartbeat") == sent
    with worker.connection.pipeline() as pipeline:  # a task starts: a short time to live
        worker.heartbeat(15, pipeline=pipeline)
        pipeline.execute()
    worker.heartbeat()  # the task ended
    assert worker.connection.ttl(worker.key) > 15
    assert worker.connection.hget(worker.key, "last_heartbeat") != sent


def test_a_state_the_worker_already_has_is_not_sent_again(clean_redis) -> None:
    worker = make_worker(queues=["critical"], kind="simple")
    worker.set_state(WorkerStatus.IDLE)
    worker.connection.hset(worker.key, "state", "overwritten")
    worker.set_state(WorkerStatus.IDLE)  # after a task, then before waiting for the next
    assert worker.connection.hget(worker.key, "state") == b"overwritten"
    worker.set_state(WorkerStatus.BUSY)
    assert worker.get_state() == WorkerStatus.BUSY


def test_a_suspension_reaches_a_busy_worker_within_the_slack(clean_redis) -> None:
    worker = make_worker(queues=["critical"], kind="simple")
    worker.check_for_suspension(burst=True)
    suspend(worker.connection)
    worker.check_for_suspension(burst=True)  # checked less than BEAT_SLACK_S ago
    worker._suspension_checked_at -= BEAT_SLACK_S
    with pytest.raises(StopRequested):
        worker.check_for_suspension(burst=True)


def registered_or_exited(worker: subprocess.Popen[bytes]) -> bool:
    return worker.poll() is not None or queue_stats()[1].workers > 0


def test_a_worker_sigtermed_the_moment_it_registers_exits_cleanly(clean_redis, tmp_path) -> None:
    for attempt in range(3):  # while RQ starts its scheduler, then installs its signal handlers
        log = tmp_path / f"worker-{attempt}.log"
        worker = spawn_worker("critical", log=log)
        wait_for(functools.partial(registered_or_exited, worker), 60, interval_s=0.01)
        assert worker.poll() is None, log.read_text()
        assert stop(worker) == 0, log.read_text()
        assert queue_stats()[1].workers == 0  # it unregistered on the way out


def test_a_worker_leaving_its_command_channel_ends_the_listening_thread(clean_redis) -> None:
    worker = make_worker(queues=["critical"])
    worker.subscribe()
    worker.unsubscribe()
    assert not worker.pubsub_thread.is_alive()  # it ended on the reply to UNSUBSCRIBE


def test_a_worker_stopped_as_it_subscribed_leaves_its_command_channel_cleanly(
    clean_redis, short_thread_switches
) -> None:
    """The listening thread may see the stop before it first waits for a message, and close the
    channel while the worker sends UNSUBSCRIBE on it. With threads switching this often, about
    one stop in 400 raised a broken pipe or a bad file descriptor before the two took turns."""
    for _ in range(1000):
        worker = make_worker(queues=["critical"])
        worker.subscribe()
        worker.unsubscribe()
        assert not worker.pubsub_thread.is_alive()


def test_leaving_does_not_wait_for_a_listener_that_saw_its_reply_already(clean_redis) -> None:
    worker = make_worker(queues=["critical"])
    worker.subscribe()
    worker.pubsub.unsubscribe()  # the listener reads the reply, then waits for a subscription
    wait_for(lambda: not worker.pubsub.subscribed, 10, interval_s=0.01)
    leaving = threading.Thread(target=worker.unsubscribe)
    leaving.start()
    leaving.join(10)  # RQ's own unsubscribe waited 60 s here with redis-py 8.2
    assert not leaving.is_alive()


def test_a_simple_worker_beats_for_a_long_task_so_it_is_not_taken_for_abandoned(
    fast_retries,
) -> None:
    """The task outlives three heartbeat intervals while the test looks for abandoned tasks as
    another worker's maintenance does (RQ's ``clean_registries``), at each poll: it must run
    once."""
    result = slow_mark.enqueue(key="long", seconds=5)
    queue = Queue("critical", connection=task_backends["default"].connection)

    def succeeded() -> bool:
        clean_registries(queue)
        return slow_mark.get_result(result.id).status == "SUCCESSFUL"

    worker = spawn_worker("critical", "--kind", "simple")
    try:
        wait_for(succeeded, timeout_s=60)
    finally:
        stop(worker)
    assert slow_mark.get_result(result.id).attempts == 1
    assert redis_client().get("done:long") == b"1"


def test_a_simple_worker_ends_itself_when_a_task_ignores_its_timeout(
    fast_retries, settings, tmp_path: Path
) -> None:
    fast_retries["OPTIONS"]["JOB_TIMEOUT_S"] = 1
    settings.TASKS = {"default": fast_retries}
    result = deaf_sleep.enqueue(seconds=60)
    log = tmp_path / "worker.log"
    worker = spawn_worker("critical", "--kind", "simple", log=log)
    try:
        # 1 s of timeout, then 3 heartbeat intervals of 1 s, then the next beat ends it.
        assert worker.wait(timeout=60) == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
    assert "still running" in log.read_text()
    assert deaf_sleep.get_result(result.id).status == TaskResultStatus.RUNNING  # till retried


@pytest.mark.parametrize(("level", "per_task_lines"), [("INFO", True), ("WARNING", False)])
def test_the_worker_log_level_covers_rq_s_and_django_s_lines_of_each_task(
    clean_redis, tmp_path: Path, level: str, per_task_lines: bool
) -> None:
    result = echo.enqueue(value=7)
    log = tmp_path / "worker.log"
    worker = spawn_worker(
        "critical", "--kind", "simple", log=log, LOG_LEVEL="INFO", TASK_WORKER_LOG_LEVEL=level
    )
    try:
        wait_for(lambda: echo.get_result(result.id).status == "SUCCESSFUL", timeout_s=60)
    finally:
        assert stop(worker) == 0
    loggers = {json.loads(line)["log.logger"] for line in log.read_text().splitlines()}
    assert ("django.tasks" in loggers) is per_task_lines
    assert ("rq.worker" in loggers) is per_task_lines


def test_processes_replaces_a_worker_that_dies_and_stops_them_all_on_sigterm(clean_redis) -> None:
    parent = spawn_worker("critical", "--kind", "simple", "--processes", "2")
    started: set[int] = set()
    try:
        wait_for(lambda: queue_stats()[1].workers == 2, timeout_s=60)
        started.update(child_pids(parent.pid))
        killed = min(started)
        for pid in [killed, *child_pids(killed)]:  # the worker and its scheduler, if it has one
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(set(child_pids(parent.pid)) - started) == 1, timeout_s=30)
        started.update(child_pids(parent.pid))
        assert killed not in child_pids(parent.pid)
        exit_code = stop(parent, timeout_s=60)
    finally:
        for pid in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    assert exit_code == 0
    assert wait_gone(list(started)) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [(["--processes", "0"], "1 or more"), (["--processes", "2", "--burst"], "one process")],
)
def test_the_worker_command_refuses_a_bad_process_count(options: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("run_worker", *options)
