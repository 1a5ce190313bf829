"""Fault tests: a committed order's tasks are never lost, and never run twice.

An order's three tasks (confirmation mail, payment deadline, analytics fact) get their outbox
rows from ``OrderPlaced``'s handlers inside the order's own transaction, and are pushed to Redis
after the commit. Each drill breaks one step on the real stack:

- the database refuses the second handler's outbox row (a trigger raises a serialization
  failure once): the order is rolled back whole, the API answers 503, the customer's retry with
  the same ``Idempotency-Key`` places it;
- the database connection drops right after the commit: nothing after the commit needs it;
- the process dies between the commit and the push to Redis: the workers' sweep pushes the
  tasks from the outbox.

Each time, every task of every committed order runs exactly once afterwards (one successful
attempt, one mail, one fact), and nothing runs for an order that was rolled back.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.tasks import TaskResultStatus

from fashionistar.analytics.models import OrderFact
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.orders.services import OrderItem, order_place
from fashionistar.tasks.backend import task_named
from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.outbox import outbox_sweep
from fashionistar.tasks.worker import drain, pending_jobs, task_queue_names
from tests.api_support import assert_error, both_apis, call
from tests.factories import make_product, make_user, variant_of
from tests.processes import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

TASKS_PER_ORDER = 3


@pytest.fixture
def shop(fast_retries, mailbox, settings) -> dict[str, Any]:
    """A customer, a dress with stock, the payment window closing at once, a real mailbox."""
    settings.ORDER_PAYMENT_WINDOW_S = 0
    return {
        "customer": make_user("ada"),
        "variant": variant_of(make_product(name="Silk Dress", price="89.00", stock=5)),
        "mailbox": mailbox,
    }


def task_entries() -> dict[str, str]:
    """The outbox's task entries now: job id → task path."""
    return dict(OutboxEntry.objects.values_list("pk", "name"))


def assert_each_ran_once(jobs: dict[str, str], orders: list[int], mailbox: list[Any]) -> None:
    """Every job succeeded on its first and only attempt, and each order's effects happened once."""
    assert len(jobs) == TASKS_PER_ORDER * len(orders)
    for job_id, path in jobs.items():
        result = task_named(path).get_result(str(job_id))
        assert (result.status, result.attempts) == (TaskResultStatus.SUCCESSFUL, 1), path
        assert len(result.worker_ids) == 1, path
    subjects = sorted(message["Subject"] for message in mailbox)
    assert subjects == sorted(f"Your Fashionistar order {order}" for order in orders)
    assert sorted(OrderFact.objects.values_list("order_id", flat=True)) == sorted(orders)
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.CANCELLED}
    assert not OutboxEntry.objects.exists()


@pytest.fixture
def outbox_fails_once_at_row() -> Iterator[Any]:
    """A trigger that fails the ``n``-th outbox insert from now on, once (a sequence, which a
    rollback does not undo, counts the inserts)."""
    table = OutboxEntry._meta.db_table

    def arm(n: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("CREATE SEQUENCE fault_outbox_inserts")
            cursor.execute(
                f"""CREATE FUNCTION fault_outbox_insert() RETURNS trigger AS $$
                BEGIN
                    IF nextval('fault_outbox_inserts') = {int(n)} THEN
                        RAISE EXCEPTION 'injected fault' USING ERRCODE = 'serialization_failure';
                    END IF;
                    RETURN NEW;
                END $$ LANGUAGE plpgsql"""
            )
            cursor.execute(
                f"CREATE TRIGGER fault_outbox BEFORE INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION fault_outbox_insert()"
            )

    yield arm
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS fault_outbox ON {table}")
        cursor.execute("DROP FUNCTION IF EXISTS fault_outbox_insert()")
        cursor.execute("DROP SEQUENCE IF EXISTS fault_outbox_inserts")


@both_apis
def test_a_handler_whose_enqueue_fails_rolls_the_order_back_and_the_retry_places_it(
    shop, outbox_fails_once_at_row, api
) -> None:
    outbox_fails_once_at_row(2)  # the second handler's task: the first one's row is written
    order = {"items": [{"variant_id": shop["variant"].pk, "quantity": 1}]}
    key = {"Idempotency-Key": "order-1"}
    failed = call(api, "post", "orders", user=shop["customer"], body=order, headers=key)
    assert_error(failed, 503, "database_unavailable")
    assert not Order.objects.exists()  # rolled back whole: no order, no stock taken, no task
    assert task_entries() == {}
    assert pending_jobs(task_queue_names()) == 0
    placed = call(api, "post", "orders", user=shop["customer"], body=order, headers=key)
    assert placed.status == 201
    jobs = task_entries()
    drain()
    assert_each_ran_once(jobs, [placed.body["id"]], shop["mailbox"])


def test_a_connection_dropped_right_after_the_commit_loses_no_task(shop) -> None:
    def drop_the_connection() -> None:  # as PgBouncer closing the client's connection
        fd = connection.connection.pgconn.socket
        socket.socket(fileno=os.dup(fd)).shutdown(socket.SHUT_RDWR)

    with transaction.atomic():
        transaction.on_commit(drop_the_connection)  # runs before the pushes the handlers added
        order = order_place(
            user=shop["customer"], items=[OrderItem(variant_id=shop["variant"].pk, quantity=1)]
        )
        jobs = task_entries()
    with pytest.raises(OperationalError):  # the connection is gone indeed
        connection.cursor().execute("SELECT 1")
    connection.close()  # Django would, at the end of the request
    assert pending_jobs(task_queue_names()) == TASKS_PER_ORDER  # pushed without the database
    drain()
    assert_each_ran_once(jobs, [order.pk], shop["mailbox"])


DIE_AFTER_COMMIT = """
import os, sys
import django
django.setup()
from django.db import transaction
from fashionistar.accounts.models import User
from fashionistar.orders.services import OrderItem, order_place
with transaction.atomic():
    transaction.on_commit(lambda: os._exit(17))  # before the pushes: the process dies
    order = order_place(user=User.objects.get(username="ada"),
                        items=[OrderItem(variant_id=int(sys.argv[1]), quantity=1)])
"""


def test_a_process_that_dies_between_commit_and_push_loses_no_task(shop) -> None:
    died = subprocess.run(
        [sys.executable, "-c", DIE_AFTER_COMMIT, str(shop["variant"].pk)],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING", "ORDER_PAYMENT_WINDOW_S": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert died.returncode == 17, died.stderr
    order = Order.objects.get()  # committed
    jobs = task_entries()
    assert len(jobs) == TASKS_PER_ORDER
    assert pending_jobs(task_queue_names()) == 0  # nothing reached Redis
    assert outbox_sweep().pushed == TASKS_PER_ORDER
    assert outbox_sweep().pushed == 0  # claimed and pushed once, not twice
    drain()
    assert_each_ran_once(jobs, [order.pk], shop["mailbox"])


def place_and_fail(shop: dict[str, Any]) -> None:
    with transaction.atomic():
        order_place(
            user=shop["customer"], items=[OrderItem(variant_id=shop["variant"].pk, quantity=1)]
        )
        raise RuntimeError("the request failed after placing the order")


def test_a_rolled_back_order_runs_nothing(shop) -> None:
    with pytest.raises(RuntimeError, match="after placing"):
        place_and_fail(shop)
    assert not Order.objects.exists()
    assert task_entries() == {}
    assert pending_jobs(task_queue_names()) == 0
    drain()
    assert shop["mailbox"] == []
    assert not OrderFact.objects.exists()
