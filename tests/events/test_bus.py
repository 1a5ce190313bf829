"""The event bus: strict schemas, after commit, ordered, isolated failures, no loops."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from asgiref.sync import async_to_sync
from django.db import transaction

from fashionistar.events import bus
from fashionistar.events.bus import Event, InvalidEvent, dispatch, handler_loops, publish
from fashionistar.events.checks import check_handler_loops
from fashionistar.orders.events import OrderPlaced
from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.outbox import outbox_sweep

pytestmark = pytest.mark.django_db(transaction=True)


class ThingHappened(Event):
    name: ClassVar[str] = "tests.thing.happened"
    thing_id: int


class OtherThingHappened(Event):
    name: ClassVar[str] = "tests.other_thing.happened"
    thing_id: int


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """Install a registry of recording handlers for ThingHappened."""
    seen: list[str] = []

    async def first(event: ThingHappened) -> None:
        seen.append(f"first {event.thing_id}")

    async def broken(event: ThingHappened) -> None:
        raise RuntimeError("handler bug")

    async def last(event: ThingHappened) -> None:
        seen.append(f"last {event.thing_id}")

    registry = {ThingHappened: (first, broken, last)}
    monkeypatch.setattr(bus, "_registry", lambda: registry)
    return seen


def test_handlers_run_after_commit_in_order_and_a_failure_is_isolated(calls, caplog) -> None:
    with caplog.at_level(logging.ERROR, "fashionistar.events.bus"), transaction.atomic():
        publish(ThingHappened, thing_id=1)
        publish(ThingHappened, thing_id=2)
        assert calls == []  # nothing before the commit
    assert calls == ["first 1", "last 1", "first 2", "last 2"]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2  # the broken handler, once per event
    assert all(".broken failed on tests.thing.happened" in message for message in messages)
    assert all(record.exc_info for record in caplog.records)
    assert not OutboxEntry.objects.exists()  # dispatched events leave nothing behind


def test_a_rolled_back_transaction_publishes_nothing(calls) -> None:
    def fail() -> None:
        with transaction.atomic():
            publish(ThingHappened, thing_id=1)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        fail()
    assert calls == []
    assert not OutboxEntry.objects.exists()


@pytest.mark.parametrize("fields", [{"thing_id": "1"}, {"thing_id": 1, "extra": 2}, {}])
def test_an_event_is_validated_strictly_when_published(calls, fields: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent) as caught:
        publish(ThingHappened, **fields)
    assert caught.value.extra["errors"]
    assert not OutboxEntry.objects.exists()


def test_an_event_field_must_be_an_id_or_a_primitive() -> None:
    with pytest.raises(TypeError, match="events carry int, str, bool, float"):

        class Bad(Event):
            name: ClassVar[str] = "tests.bad"
            order: object


def test_a_dispatch_lost_with_its_process_is_redone_by_the_sweep(calls, settings) -> None:
    settings.TASKS = {
        "default": {
            **settings.TASKS["default"],
            "OPTIONS": {**settings.TASKS["default"]["OPTIONS"], "SWEEP_AFTER_S": 0},
        }
    }
    OutboxEntry.objects.create(kind="event", name=ThingHappened.name, payload={"thing_id": 7})
    assert outbox_sweep().dispatched == 1
    assert calls == ["first 7", "last 7"]
    assert not OutboxEntry.objects.exists()
    OutboxEntry.objects.create(kind="event", name="tests.nobody.knows", payload={})
    outbox_sweep()
    assert OutboxEntry.objects.get().failed_at is not None


def test_loops_in_handler_chains_are_found_and_fail_the_check() -> None:
    @bus.handler_publishes(OtherThingHappened)
    async def relay(event: Event) -> None: ...

    @bus.handler_publishes(ThingHappened)
    async def relay_back(event: Event) -> None: ...

    looping = {ThingHappened: (relay,), OtherThingHappened: (relay_back,)}
    [loop] = handler_loops(looping)
    assert loop[0] == loop[-1]
    assert set(loop) == {ThingHappened.name, OtherThingHappened.name}
    [error] = check_handler_loops(registry=looping)
    assert error.id == "fashionistar.E001"
    assert handler_loops({ThingHappened: (relay,)}) == []
    assert check_handler_loops() == []  # the project's own registry


def test_the_projects_registry_wires_order_placed() -> None:
    from fashionistar.events.registry import HANDLERS

    names = [handler.__name__ for handler in HANDLERS[OrderPlaced]]
    assert names == ["mail_order_confirmation", "start_payment_deadline", "record_order_analytics"]


def test_dispatch_counts_the_handlers_that_succeeded(calls) -> None:
    assert async_to_sync(dispatch)(ThingHappened(thing_id=3)) == 2
