"""The outbox sweep: no lock or transaction across Redis calls, one Redis error costs one entry."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.tasks import task_backends
from django.utils import timezone
from psycopg.pq import TransactionStatus
from rq.job import Job

from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.outbox import outbox_claim, outbox_sweep
from fashionistar.tasks.worker import drain
from tests.tasks.sample_tasks import add

pytestmark = pytest.mark.django_db(transaction=True)


def lose_job(task_id: str) -> None:
    """Delete a pushed job from Redis, as a failover that lost the write would."""
    Job.fetch(task_id, connection=task_backends["default"].connection).delete()


def test_the_sweep_holds_no_transaction_while_it_talks_to_redis(fast_retries, monkeypatch) -> None:
    for a in range(3):
        lose_job(add.enqueue(a=a, b=0).id)
    redis = task_backends["default"].connection
    seen: list[tuple[str, bool, Any]] = []
    send = redis.execute_command

    def watched(*args: Any, **options: Any) -> Any:
        pg = connection.connection
        status = pg.info.transaction_status if pg is not None else TransactionStatus.IDLE
        seen.append((str(args[0]), connection.in_atomic_block, status))
        return send(*args, **options)

    monkeypatch.setattr(redis, "execute_command", watched)
    assert outbox_sweep().pushed == 3
    assert seen  # the sweep did talk to Redis
    assert {(atomic, status) for _, atomic, status in seen} == {(False, TransactionStatus.IDLE)}
    monkeypatch.undo()
    drain()
    assert not OutboxEntry.objects.exists()


def test_a_redis_error_on_one_entry_is_logged_and_the_rest_are_swept(fast_retries, caplog) -> None:
    broken, fine = add.enqueue(a=1, b=1), add.enqueue(a=2, b=2)
    lose_job(broken.id)
    lose_job(fine.id)
    redis = task_backends["default"].connection
    redis.set(f"rq:job:{broken.id}", "not a job")  # WRONGTYPE for RQ: a real Redis error
    with caplog.at_level(logging.WARNING, "fashionistar.tasks.outbox"):
        report = outbox_sweep()
    assert (report.unread, report.pushed) == (1, 1)
    assert f"outbox entry {broken.id}: Redis did not answer" in caplog.text
    drain()
    assert add.get_result(fine.id).return_value == 4
    redis.delete(f"rq:job:{broken.id}")
    assert outbox_sweep(now=timezone.now() + timedelta(minutes=1)).pushed == 1  # next sweep
    drain()
    assert add.get_result(broken.id).return_value == 2


def test_two_sweeps_never_claim_the_same_entry_until_its_lease_ends(settings, clean_redis) -> None:
    add.enqueue(a=1, b=1)
    later = timezone.now() + timedelta(minutes=5)
    first = outbox_claim(now=later, older_than_s=30, limit=10)
    assert len(first) == 1
    assert outbox_claim(now=later, older_than_s=30, limit=10) == []
    after_lease = later + timedelta(seconds=31)
    assert outbox_claim(now=after_lease, older_than_s=30, limit=10) == first
