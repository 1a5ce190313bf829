"""The outbox sweep: no lock or transaction across Redis calls, one Redis error costs one entry."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.tasks import task_backends
from django.utils import timezone
from psycopg.pq import TransactionStatus
from rq.job import Job

from fashionistar.analytics.models import OrderFact
from fashionistar.inventory.models import Stock
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.orders.services import OrderItem, order_place
from fashionistar.orders.tasks import order_confirmation_task, order_payment_deadline_task
from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.outbox import outbox_claim, outbox_sweep
from fashionistar.tasks.worker import drain
from tests.factories import make_product, make_user, variant_of
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


def test_the_sweep_pushes_lost_entries_oldest_first(fast_retries) -> None:
    with transaction.atomic():
        ids = [add.enqueue(a=a, b=0).id for a in range(4)]
    for task_id in ids:
        lose_job(task_id)

    assert outbox_sweep().pushed == 4

    queue = task_backends["default"].rq_queue("critical")
    assert queue.job_ids == ids


def test_a_lost_task_runs_after_newer_ones_of_its_transaction_and_still_does_right(
    fast_retries, mailbox, settings
) -> None:
    """The sweep's scenario: one transaction, three tasks, the oldest one's push lost."""
    settings.ORDER_PAYMENT_WINDOW_S = 0  # the deadline task is due at once
    fast_retries["OPTIONS"]["SWEEP_AFTER_S"] = 3600  # the workers' own sweeps leave it alone
    settings.TASKS = {"default": fast_retries}
    dress = make_product(stock=5)
    items = [OrderItem(variant_id=variant_of(dress).pk, quantity=2)]
    order = order_place(user=make_user(), items=items)
    confirmation = OutboxEntry.objects.get(name=order_confirmation_task.module_path)
    deadline = OutboxEntry.objects.get(name=order_payment_deadline_task.module_path)
    assert confirmation.created_at < deadline.created_at  # the handlers' order
    lose_job(str(confirmation.pk))

    drain()  # the newer tasks of the transaction run: the unpaid order is cancelled
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
    assert list(OutboxEntry.objects.values_list("pk", flat=True)) == [confirmation.pk]

    # The older one is pushed again, after them.
    assert outbox_sweep(now=timezone.now() + timedelta(hours=2)).pushed == 1
    drain()

    ran_first = order_payment_deadline_task.get_result(str(deadline.pk))
    ran_last = order_confirmation_task.get_result(str(confirmation.pk))
    assert ran_first.finished_at < ran_last.started_at
    # Each task did its part once, whatever the order: the order stays cancelled, its stock
    # went back once, one fact, one confirmation mail; nothing is left to sweep.
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.confirmation_sent_at is not None
    assert Stock.objects.get(variant=variant_of(dress)).quantity == 5
    assert OrderFact.objects.filter(order=order).count() == 1
    assert len(mailbox) == 1
    assert not OutboxEntry.objects.exists()
