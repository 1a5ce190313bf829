"""The event bus: strict schemas, handlers in the publisher's transaction, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rq import Queue

from fashionistar.events import bus
from fashionistar.events.bus import Event, InvalidEvent, dispatch, handler_loops, publish
from fashionistar.events.checks import check_handler_loops
from fashionistar.kernel.redis_client import shared_redis_client
from fashionistar.orders.events import OrderPlaced
from fashionistar.project.handlers import HANDLERS
from fashionistar.tasks.models import OutboxEntry
from tests.tasks.sample_tasks import add

pytestmark = pytest.mark.django_db(transaction=True)


class ThingHappened(Event):
    name: ClassVar[str] = "tests.thing.happened"
    thing_id: int


class OtherThingHappened(Event):
    name: ClassVar[str] = "tests.other_thing.happened"
    thing_id: int


class Handlers:
    """Handlers that enqueue a task each and note what they saw; one can be made to fail."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.in_transaction: list[bool] = []
        self.fail_on: int | None = None

    def first(self, event: ThingHappened) -> None:
        self.calls.append(f"first {event.thing_id}")
        self.in_transaction.append(transaction.get_connection().in_atomic_block)
        add.enqueue(a=event.thing_id, b=0)

    def last(self, event: ThingHappened) -> None:
        if event.thing_id == self.fail_on:
            raise RuntimeError("handler bug")
        self.calls.append(f"last {event.thing_id}")
        add.enqueue(a=event.thing_id, b=1)


@pytest.fixture
def handlers(clean_redis) -> Iterator[Handlers]:
    """Connect the recording handlers to the bus for one test; the project's come back after."""
    recording = Handlers()
    bus.connect({ThingHappened: (recording.first, recording.last)})
    yield recording
    bus.connect(HANDLERS)


def test_handlers_run_at_once_in_the_publishers_transaction_in_order(handlers) -> None:
    with transaction.atomic():
        publish(ThingHappened, thing_id=1)
        publish(ThingHappened, thing_id=2)
        assert handlers.calls == ["first 1", "last 1", "first 2", "last 2"]
        assert OutboxEntry.objects.count() == 4  # every task's row, in this transaction
    assert handlers.in_transaction == [True, True]
    assert OutboxEntry.objects.count() == 4


def test_an_events_tasks_are_written_in_one_insert_and_queued_at_commit(handlers) -> None:
    with transaction.atomic():
        with CaptureQueriesContext(connection) as ran:
            publish(ThingHappened, thing_id=1)
        written = [q["sql"] for q in ran if q["sql"].startswith('INSERT INTO "fashionistar_tasks')]
        assert len(written) == 1  # both handlers' tasks, in one statement
        assert Queue("critical", connection=shared_redis_client()).count == 0
    assert Queue("critical", connection=shared_redis_client()).count == 2


def publish_and_fail() -> None:
    with transaction.atomic():
        publish(ThingHappened, thing_id=1)
        raise RuntimeError("rolled back")


def publish_twice() -> None:
    with transaction.atomic():
        publish(ThingHappened, thing_id=1)
        publish(ThingHappened, thing_id=2)


def test_a_rolled_back_transaction_keeps_none_of_its_handlers_work(handlers) -> None:
    with pytest.raises(RuntimeError, match="rolled back"):
        publish_and_fail()
    assert handlers.calls == ["first 1", "last 1"]
    assert not OutboxEntry.objects.exists()


def test_a_failing_handler_rolls_back_the_publisher_and_the_handlers_before_it(handlers) -> None:
    handlers.fail_on = 2
    with pytest.raises(RuntimeError, match="handler bug"):
        publish_twice()
    assert handlers.calls == ["first 1", "last 1", "first 2"]
    assert not OutboxEntry.objects.exists()


def test_outside_a_transaction_an_events_handlers_commit_together(handlers) -> None:
    handlers.fail_on = 3
    publish(ThingHappened, thing_id=4)
    assert OutboxEntry.objects.count() == 2
    assert handlers.in_transaction == [True]  # a transaction of their own
    with pytest.raises(RuntimeError, match="handler bug"):
        publish(ThingHappened, thing_id=3)
    assert OutboxEntry.objects.count() == 2  # the first handler's task went with the second's


@pytest.mark.parametrize("fields", [{"thing_id": "1"}, {"thing_id": 1, "extra": 2}, {}])
def test_an_event_is_validated_strictly_when_published(handlers, fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as caught:
        publish(ThingHappened, **fields)
    assert caught.value.extra["errors"]
    assert handlers.calls == []
    assert not OutboxEntry.objects.exists()


def test_an_event_field_must_be_an_id_or_a_primitive() -> None:
    with pytest.raises(TypeError, match="events carry int, str, bool, float"):

        class Bad(Event):
            name: ClassVar[str] = "tests.bad"
            order: object


def test_loops_in_handler_chains_are_found_and_fail_the_check() -> None:
    @bus.handler_publishes(OtherThingHappened)
    def relay(event: Event) -> None: ...

    @bus.handler_publishes(ThingHappened)
    def relay_back(event: Event) -> None: ...

    looping = {ThingHappened: (relay,), OtherThingHappened: (relay_back,)}
    [loop] = handler_loops(looping)
    assert loop[0] == loop[-1]
    assert set(loop) == {ThingHappened.name, OtherThingHappened.name}
    [error] = check_handler_loops(registry=looping)
    assert error.id == "fashionistar.E001"
    assert handler_loops({ThingHappened: (relay,)}) == []
    assert check_handler_loops() == []  # the project's own registry


def test_django_start_connects_the_projects_registry() -> None:
    assert bus.connected() == HANDLERS
    names = [handler.__name__ for handler in HANDLERS[OrderPlaced]]
    assert names == ["mail_order_confirmation", "start_payment_deadline", "record_order_analytics"]


def test_dispatch_runs_a_given_registry(handlers) -> None:
    seen: list[int] = []
    dispatch(
        ThingHappened(thing_id=3), registry={ThingHappened: (lambda e: seen.append(e.thing_id),)}
    )
    assert seen == [3]
    assert handlers.calls == []


def test_an_async_handler_is_refused_when_connected() -> None:
    async def late(event: ThingHappened) -> None: ...

    with pytest.raises(TypeError, match=r"handler .*late is async"):
        bus.connect({ThingHappened: (late,)})
    assert bus.connected() == HANDLERS  # unchanged


def test_the_handlers_saved_before_a_connect_can_be_put_back() -> None:
    saved = bus.connected()
    try:
        bus.connect({})
        assert bus.connected() == {}
    finally:
        bus.connect(saved)
    assert bus.connected() == saved
    assert saved
