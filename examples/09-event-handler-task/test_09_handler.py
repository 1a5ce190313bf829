"""Exercise 09: big orders get a welcome task, committed with the order, run by a real worker."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.tasks import TaskResultStatus, default_task_backend
from rq import Queue
from tests.factories import make_product, make_user, variant_of
from workshop_tasks import vip_welcome_task

from fashionistar.events import bus
from fashionistar.orders.events import OrderPlaced
from fashionistar.orders.services import OrderItem, order_place
from fashionistar.project.handlers import HANDLERS
from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.worker import drain

PARTICIPANT_FILE = "handlers.py"
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_redis")]


@pytest.fixture
def wired(participant):
    """Connect the participant's handler to the bus, after the shop's own."""
    bus.connect({**HANDLERS, OrderPlaced: (*HANDLERS[OrderPlaced], participant.welcome_vip)})
    yield
    bus.connect(HANDLERS)


def emails_queued() -> int:
    return Queue("emails", connection=default_task_backend.connection).count


def welcome_entries() -> list[OutboxEntry]:
    return list(OutboxEntry.objects.filter(name=vip_welcome_task.module_path))


def place(price: str):
    user = make_user()
    product = make_product(price=price)
    return order_place(user=user, items=[OrderItem(variant_id=variant_of(product).pk, quantity=1)])


@pytest.mark.usefixtures("wired")
def test_a_big_order_gets_its_welcome_after_commit_and_a_worker_runs_it() -> None:
    with transaction.atomic():
        order = place("120.00")
        (entry,) = welcome_entries()  # written with the order, in its transaction
        assert emails_queued() == 0  # nothing reaches Redis before the commit
    assert emails_queued() == 2  # the confirmation and the welcome
    assert entry.payload["kwargs"] == {"order_id": order.pk}
    drain(queues=["emails"])
    result = default_task_backend.get_result(str(entry.pk))
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == f"welcome {order.user.username}"


@pytest.mark.usefixtures("wired")
def test_a_small_order_gets_none() -> None:
    place("20.00")
    assert welcome_entries() == []


@pytest.mark.usefixtures("wired")
def test_a_rolled_back_order_gets_none() -> None:
    def place_then_fail() -> None:
        with transaction.atomic():
            place("150.00")
            raise RuntimeError("the request failed after placing the order")

    with pytest.raises(RuntimeError):
        place_then_fail()
    assert welcome_entries() == []
