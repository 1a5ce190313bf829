"""A succeeded task's outbox entry goes at once, or, in a simple worker, with the next batch."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError, connection
from django.db.models import QuerySet

from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.settle import outbox_settled, settling_in_batches
from fashionistar.tasks.worker import make_worker
from tests.processes import wait_for
from tests.tasks.sample_tasks import add

pytestmark = pytest.mark.django_db(transaction=True)  # the batches' thread has its own connection


def pending_entry() -> OutboxEntry:
    return OutboxEntry.objects.create(
        kind="task", name=add.module_path, queue="critical", payload={}
    )


def test_outside_a_simple_worker_an_entry_goes_at_once() -> None:
    entry = pending_entry()
    outbox_settled(str(entry.pk))
    assert not OutboxEntry.objects.exists()


def test_in_batches_entries_go_with_the_next_batch() -> None:
    first, second = pending_entry(), pending_entry()
    with settling_in_batches(every_s=0.05):
        outbox_settled(str(first.pk))
        outbox_settled(str(second.pk))
        wait_for(lambda: not OutboxEntry.objects.exists(), 10)


def test_what_is_pending_when_the_batches_end_goes_then() -> None:
    entry = pending_entry()
    with settling_in_batches(every_s=3600):
        outbox_settled(str(entry.pk))
        assert OutboxEntry.objects.filter(pk=entry.pk).exists()
    assert not OutboxEntry.objects.exists()


def test_a_simple_worker_leaves_no_entry_of_the_tasks_it_ran(fast_retries) -> None:
    results = [add.enqueue(a=n, b=n) for n in range(5)]
    assert OutboxEntry.objects.count() == len(results)
    make_worker(queues=["critical"], kind="simple").work(burst=True)
    assert not OutboxEntry.objects.exists()


def test_a_batch_the_database_refuses_is_logged_and_left_to_the_sweep(monkeypatch, caplog) -> None:
    entry = pending_entry()

    def refused(queryset: QuerySet[OutboxEntry]) -> None:
        raise OperationalError("the server closed the connection")  # PgBouncer went away

    monkeypatch.setattr(QuerySet, "delete", refused)
    with caplog.at_level(logging.WARNING), settling_in_batches(every_s=3600):
        outbox_settled(str(entry.pk))
    assert "1 outbox entries of finished tasks not deleted; the sweep will" in caplog.text
    assert OutboxEntry.objects.filter(pk=entry.pk).exists()


def test_after_a_connection_dies_the_next_batch_connects_again(monkeypatch, caplog) -> None:
    first, second = pending_entry(), pending_entry()
    delete = QuerySet.delete
    killed: list[bool] = []

    def on_a_dead_connection(queryset: QuerySet[OutboxEntry]) -> tuple[int, dict[str, int]]:
        if not killed:  # the batches' thread: its connection dies, as when PgBouncer restarts
            connection.ensure_connection()
            connection.connection.close()
            killed.append(True)
        return delete(queryset)

    monkeypatch.setattr(QuerySet, "delete", on_a_dead_connection)
    with caplog.at_level(logging.WARNING), settling_in_batches(every_s=0.05):
        outbox_settled(str(first.pk))
        wait_for(lambda: "not deleted; the sweep will" in caplog.text, 10)
        outbox_settled(str(second.pk))
        wait_for(lambda: not OutboxEntry.objects.filter(pk=second.pk).exists(), 10)
    assert OutboxEntry.objects.filter(pk=first.pk).exists()  # left to the sweep
