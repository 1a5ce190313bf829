"""A worker stops on SIGTERM wherever the signal lands: during start-up, or inside code that
swallows exceptions (RQ's handler raises one)."""

from __future__ import annotations

import contextlib
import functools
import signal
import subprocess
import threading
from collections.abc import Iterator

import pytest
from rq.exceptions import StopRequested

from fashionistar.tasks.monitoring import queue_stats
from fashionistar.tasks.worker import make_worker
from tests.processes import spawn_worker, stop, wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # maintenance sweeps the outbox


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """RQ's worker replaces the test run's SIGTERM and SIGINT handlers: put them back."""
    saved = {number: signal.getsignal(number) for number in (signal.SIGTERM, signal.SIGINT)}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


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


def registered_or_exited(worker: subprocess.Popen[bytes]) -> bool:
    return worker.poll() is not None or queue_stats()[1].workers > 0


def test_a_worker_sigtermed_the_moment_it_registers_exits_cleanly(clean_redis) -> None:
    for _ in range(3):  # the moment RQ starts its scheduler: where the signal used to get lost
        worker = spawn_worker("critical")
        wait_for(functools.partial(registered_or_exited, worker), 60, interval_s=0.01)
        assert worker.poll() is None
        assert stop(worker) == 0
        assert queue_stats()[1].workers == 0  # it unregistered on the way out
