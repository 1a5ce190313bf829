"""Exercise 04: a task declared with Django's API, durable with the restock, run by a worker."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.tasks import Task, TaskResultStatus, default_task_backend
from rq import Queue
from tests.factories import make_product, variant_of

from fashionistar.inventory.models import Stock
from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.worker import drain

PARTICIPANT_FILE = "restock.py"
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_redis")]


@pytest.fixture
def alert(participant) -> Task:
    alert = getattr(participant, "restock_alert_task", None)
    assert isinstance(alert, Task), (
        "restock.py declares no task restock_alert_task: declare it with @task(...)"
    )
    return alert


@pytest.fixture
def variant():
    return variant_of(make_product(name="Boot", stock=10))


def emails_queued() -> int:
    return Queue("emails", connection=default_task_backend.connection).count


def outbox(task: Task) -> list[OutboxEntry]:
    return list(OutboxEntry.objects.filter(name=task.module_path))


def test_the_alert_is_a_task_on_the_emails_queue(alert) -> None:
    assert alert.queue_name == "emails", f"the alert goes to the {alert.queue_name!r} queue"


def test_the_alert_is_written_with_the_restock_and_leaves_at_the_commit(
    participant, alert, variant
) -> None:
    with transaction.atomic():
        assert participant.stock_restock(variant_id=variant.pk, quantity=5) == 15
        entries = outbox(alert)
        assert len(entries) == 1, "no outbox row in the restock's transaction: enqueue() in it"
        assert emails_queued() == 0, "the alert reached Redis before the restock committed"
    assert entries[0].payload["kwargs"] == {"variant_id": variant.pk}
    assert emails_queued() == 1, "the committed alert did not reach Redis"


def test_a_burst_worker_runs_it(participant, alert, variant) -> None:
    participant.stock_restock(variant_id=variant.pk, quantity=5)
    (entry,) = outbox(alert)
    drain(queues=["emails"])  # a burst worker, in this process, until the queue is empty
    result = default_task_backend.get_result(str(entry.pk))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == f"{variant.sku}: 15 in stock"


def test_a_restock_that_rolls_back_alerts_nobody(participant, alert, variant) -> None:
    def restock_then_fail() -> None:
        with transaction.atomic():
            participant.stock_restock(variant_id=variant.pk, quantity=5)
            raise RuntimeError("the delivery note did not match: roll the restock back")

    with pytest.raises(RuntimeError):
        restock_then_fail()
    assert outbox(alert) == []
    assert emails_queued() == 0
    assert Stock.objects.get(variant=variant).quantity == 10
