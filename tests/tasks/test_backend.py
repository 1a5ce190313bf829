"""The RQ task backend: after-commit enqueueing, retries by RQ, results, signals, the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection, transaction
from django.tasks import TaskResultStatus, task_backends
from django.tasks.exceptions import TaskResultDoesNotExist
from django.tasks.signals import task_enqueued, task_finished, task_started
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from redis.connection import AbstractConnection
from rq import Queue
from rq.job import Job
from rq.utils import get_version

from fashionistar.tasks.backend import enqueued_together
from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.outbox import outbox_sweep
from fashionistar.tasks.worker import drain, make_worker
from fashionistar_dev.processes import free_port
from tests.tasks.sample_tasks import add, always_fails, flaky, loses_its_connection_once

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def signals() -> Iterator[list[tuple[str, str, str]]]:
    """Every task signal received: (signal, task id, status)."""
    seen: list[tuple[str, str, str]] = []
    receivers = {}
    for name, signal in (
        ("enqueued", task_enqueued),
        ("started", task_started),
        ("finished", task_finished),
    ):

        def receiver(sender: Any, task_result: Any, _name: str = name, **kwargs: Any) -> None:
            seen.append((_name, task_result.id, str(task_result.status)))

        receivers[signal] = receiver
        signal.connect(receiver)
    yield seen
    for signal, receiver in receivers.items():
        signal.disconnect(receiver)


def queued(name: str) -> int:
    return Queue(name, connection=task_backends["default"].connection).count


def test_a_task_runs_and_its_result_and_signals_say_so(fast_retries, signals) -> None:
    result = add.enqueue(a=2, b=3)
    assert result.status == TaskResultStatus.READY
    assert queued("critical") == 1
    drain()
    result.refresh()
    assert (result.status, result.return_value, result.attempts) == ("SUCCESSFUL", 5, 1)
    assert add.get_result(result.id).return_value == 5
    assert [(name, status) for name, _, status in signals] == [
        ("enqueued", "READY"),
        ("started", "RUNNING"),
        ("finished", "SUCCESSFUL"),
    ]
    assert not OutboxEntry.objects.exists()  # a task that succeeded leaves nothing behind


def test_a_rolled_back_transaction_enqueues_nothing(fast_retries, signals) -> None:
    def place_then_fail() -> None:
        with transaction.atomic():
            add.enqueue(a=1, b=1)
            raise RuntimeError("the order failed")

    with pytest.raises(RuntimeError):
        place_then_fail()
    assert not OutboxEntry.objects.exists()
    assert queued("critical") == 0
    assert signals == []


def test_a_committed_transaction_enqueues_at_commit(fast_retries) -> None:
    with transaction.atomic():
        add.enqueue(a=1, b=1)
        assert queued("critical") == 0  # not before the commit
        assert OutboxEntry.objects.count() == 1
    assert queued("critical") == 1


@pytest.fixture
def round_trips(monkeypatch) -> list[bytes]:
    """What this process sends to Redis, one item per round trip (a pipeline is one)."""
    sent: list[bytes] = []
    send = AbstractConnection.send_packed_command
    # Not counted: the connection's set-up, and RQ's reading of the server's version, once
    # per client.
    get_version(task_backends["default"].connection)

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def test_a_push_is_one_round_trip_to_redis(fast_retries, round_trips) -> None:
    add.enqueue(a=1, b=1)  # outside a transaction: pushed at once

    assert len(round_trips) == 1
    assert queued("critical") == 1


def test_tasks_enqueued_together_are_one_insert_and_one_round_trip_at_commit(
    fast_retries, signals, round_trips
) -> None:
    with transaction.atomic():
        with CaptureQueriesContext(connection) as ran, enqueued_together():
            results = [add.enqueue(a=n, b=n) for n in range(3)]
            results.append(always_fails.using(queue_name="analytics").enqueue())
            assert len(ran) == 0  # written when the block ends
        assert [query["sql"].split()[0] for query in ran] == ["INSERT"]
        assert OutboxEntry.objects.count() == 4
        assert round_trips == []  # not before the commit

    assert len(round_trips) == 1
    assert (queued("critical"), queued("analytics")) == (3, 1)
    assert [(name, task_id) for name, task_id, _ in signals] == [
        ("enqueued", result.id) for result in results
    ]
    drain()
    assert [add.get_result(r.id).return_value for r in results[:3]] == [0, 2, 4]


def enqueue_then_fail() -> None:
    with enqueued_together():
        add.enqueue(a=1, b=1)
        raise RuntimeError("a handler failed")


def test_a_block_of_tasks_that_raises_writes_and_pushes_nothing(fast_retries, signals) -> None:
    with transaction.atomic():
        with pytest.raises(RuntimeError, match="a handler failed"):
            enqueue_then_fail()
        add.enqueue(a=2, b=2)  # after the block: on its own, as usual

    assert OutboxEntry.objects.count() == 1
    assert queued("critical") == 1
    assert len(signals) == 1


def test_a_block_of_tasks_that_redis_did_not_take_is_pushed_again_by_the_sweep(
    fast_retries, caplog
) -> None:
    backend = task_backends["default"]
    working = backend.connection
    backend._connection = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    try:
        with enqueued_together():
            results = [add.enqueue(a=n, b=1) for n in range(2)]
    finally:
        backend._connection = working
    assert "tasks not pushed to RQ yet" in caplog.text
    assert queued("critical") == 0
    assert outbox_sweep().pushed == 2
    drain()
    assert [add.get_result(r.id).return_value for r in results] == [1, 2]


def test_rq_retries_a_failing_task_and_the_result_shows_every_attempt(fast_retries) -> None:
    result = flaky.enqueue(key="twice", failures=2)
    drain()
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3  # the third attempt succeeded
    assert result.attempts == 3
    assert [error.exception_class_path for error in result.errors] == [
        "builtins.ConnectionError"
    ] * 2


def test_retries_wait_their_backoff_in_rqs_scheduler(settings, clean_redis) -> None:
    tasks = {**settings.TASKS["default"]}
    tasks["OPTIONS"] = {**tasks["OPTIONS"], "RETRY": {"critical": {"max": 1, "intervals": [1]}}}
    settings.TASKS = {"default": tasks}
    result = flaky.enqueue(key="once", failures=1)
    job = Job.fetch(result.id, connection=task_backends["default"].connection)
    make_worker(queues=["critical"], kind="simple").work(burst=True, with_scheduler=True)
    assert job.get_status() == "scheduled"  # failed once, waiting for its 1 s backoff
    drain(timeout_s=10)
    result.refresh()
    assert (result.status, result.attempts) == ("SUCCESSFUL", 2)


def test_a_task_that_always_fails_ends_failed_after_four_attempts(fast_retries, signals) -> None:
    result = always_fails.enqueue()
    drain()
    result.refresh()
    assert (result.status, result.attempts, len(result.errors)) == ("FAILED", 4, 4)
    assert result.errors[-1].exception_class is ValueError
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018
    assert [name for name, _, _ in signals].count("finished") == 1  # after the last attempt
    entry = OutboxEntry.objects.get()
    assert entry.failed_at is not None  # kept for inspection, never swept again


def test_an_unknown_result_does_not_exist(clean_redis) -> None:
    with pytest.raises(TaskResultDoesNotExist):
        add.get_result("00000000-0000-0000-0000-000000000000")


def test_redis_down_at_enqueue_loses_nothing(fast_retries, caplog) -> None:
    backend = task_backends["default"]
    working = backend.connection
    backend._connection = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    try:
        result = add.enqueue(a=20, b=22)
    finally:
        backend._connection = working
    assert "not pushed to RQ yet" in caplog.text
    assert queued("critical") == 0
    assert add.get_result(result.id).status == TaskResultStatus.READY  # from the outbox
    report = outbox_sweep()
    assert report.pushed == 1
    drain()
    assert add.get_result(result.id).return_value == 42


def test_a_job_that_redis_lost_is_pushed_again(fast_retries) -> None:
    result = add.enqueue(a=1, b=2)
    connection = task_backends["default"].connection
    Job.fetch(result.id, connection=connection).delete()  # as a failover that lost the write
    assert queued("critical") == 0
    assert outbox_sweep().pushed == 1
    drain()
    assert add.get_result(result.id).return_value == 3


def test_a_job_popped_by_a_worker_whose_next_writes_were_lost_is_pushed_again(
    fast_retries,
) -> None:
    result = add.enqueue(a=2, b=2)
    queue = Queue("critical", connection=task_backends["default"].connection)
    assert queue.connection.lpop(queue.key) == result.id.encode()  # a worker's BLPOP, and no more
    assert Job.fetch(result.id, connection=queue.connection).get_status() == "queued"
    assert outbox_sweep().pushed == 1
    assert queue.job_ids == [result.id]
    drain()
    assert add.get_result(result.id).return_value == 4


def test_a_job_in_rqs_intermediate_list_is_left_to_rq(fast_retries) -> None:
    add.enqueue(a=2, b=2)
    queue = Queue("critical", connection=task_backends["default"].connection)
    queue.connection.lmove(queue.key, queue.intermediate_queue_key)  # a one-queue worker's BLMOVE
    assert outbox_sweep().waiting == 1


def test_the_sweep_leaves_waiting_jobs_alone_and_settles_finished_ones(fast_retries) -> None:
    waiting = add.enqueue(a=1, b=1)
    assert outbox_sweep().waiting == 1
    drain()
    OutboxEntry.objects.create(  # a success whose outbox delete was lost
        id=waiting.id, kind="task", name=add.module_path, queue="critical", payload={}
    )
    assert outbox_sweep().settled == 1
    assert not OutboxEntry.objects.exists()


def test_the_sweep_waits_until_an_entry_is_old_enough(settings, clean_redis) -> None:
    result = add.enqueue(a=1, b=1)
    Job.fetch(result.id, connection=task_backends["default"].connection).delete()
    assert outbox_sweep().pushed == 0  # younger than SWEEP_AFTER_S: its push may be under way
    later = timezone.now() + timedelta(minutes=5)
    assert outbox_sweep(now=later).pushed == 1


def test_a_simple_worker_connects_again_for_the_retry_of_a_task_whose_connection_died(
    fast_retries,
) -> None:
    result = loses_its_connection_once.enqueue(key="pgbouncer-restarted")

    make_worker(queues=["critical"], kind="simple").work(burst=True)

    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 2
