"""Domain events, handled inside the transaction that publishes them, instead of Django signals.

The contract, as Django writes its own dispatcher's:

- **Events** are frozen Pydantic models with a dotted, past-tense ``name``
  (``orders.order.placed``) and fields of ids and primitives only; :func:`publish` validates
  them strictly, so an event is what its schema says or it is not published.
- **In the publisher's transaction**: :func:`publish` runs the event's handlers at once, inside
  the caller's transaction (or a transaction of their own when there is none). A handler only
  writes to the database, usually by enqueuing tasks: each task's outbox row then commits with
  the change that caused it, or not at all. Whatever talks to the outside world (mail, a
  partner, Redis) is a task, pushed to RQ after the commit and pushed again by the workers'
  sweep if that push is lost.
- **All or nothing**: a handler that raises makes :func:`publish` raise, and the publisher's
  transaction rolls back with everything it did. An order and its tasks commit together.
- **Order**: the handlers of an event run one after another, in the order the registry lists
  them; events run in the order they are published.
- **Handlers** are plain (not ``async``) functions taking the event; they are registered in one
  place, :mod:`fashionistar.project.handlers`, connected when Django starts (:func:`connect`), and a
  system check refuses handler chains that loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from types import MappingProxyType
from typing import Any, ClassVar

from django.db import transaction
from pydantic import BaseModel, ConfigDict, ValidationError

from fashionistar.kernel.errors import ApplicationError

FIELD_TYPES = frozenset({int, str, bool, float})
"""An event carries ids and primitives: a model instance or a Decimal would not survive JSON."""


class InvalidEvent(ApplicationError):
    """An event whose fields do not match its schema."""

    status_code = 500  # a bug in the publisher, never the client's fault
    code = "invalid_event"


class Event(BaseModel):
    """Base of every domain event: strict, frozen, JSON fields only."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    name: ClassVar[str]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """Refuse, when the class is defined, a field that is not an id or a primitive.

        Args:
            **kwargs: Pydantic's.

        Raises:
            TypeError: A field of another type.
        """
        super().__pydantic_init_subclass__(**kwargs)
        for field_name, field in cls.model_fields.items():
            if field.annotation not in FIELD_TYPES:
                raise TypeError(f"{cls.__name__}.{field_name}: events carry int, str, bool, float")


type Handler = Callable[[Any], None]
type Registry = Mapping[type[Event], Sequence[Handler]]

_connected: dict[type[Event], Sequence[Handler]] = {}
_handlers_run_inside: list[Callable[[], AbstractContextManager[object]]] = []


def run_handlers_inside(context: Callable[[], AbstractContextManager[object]]) -> None:
    """Run every event's handlers inside a context of this kind too, within the transaction.

    The task backend registers :func:`fashionistar.tasks.backend.enqueued_together` (its app's
    ``ready()``): the tasks an event's handlers enqueue are written and pushed together.

    Args:
        context: Makes the context, once per published event.
    """
    if context not in _handlers_run_inside:
        _handlers_run_inside.append(context)


def handler_publishes(*events: type[Event]) -> Callable[[Handler], Handler]:
    """Declare which events a handler may publish, for the loop check.

    Args:
        *events: The event classes.

    Returns:
        A decorator that records them on the handler.
    """

    def declare(handler: Handler) -> Handler:
        handler.publishes = events  # type: ignore[attr-defined]
        return handler

    return declare


def connect(registry: Registry) -> None:
    """Use these handlers for every event published from now on.

    ``EventsConfig.ready()`` connects the one that ``settings.EVENT_HANDLERS`` names; the bus
    itself imports no domain, so the domains can import the bus.

    Args:
        registry: Event classes and their handlers, in the order they run.

    Raises:
        TypeError: A handler is a coroutine function: it would run outside the publisher's
            transaction.
    """
    for event_type, handlers in registry.items():
        for handler in handlers:
            if inspect.iscoroutinefunction(handler):
                raise TypeError(
                    f"{event_type.name}: handler {handler.__qualname__} is async; handlers run "
                    "in the publisher's transaction, so they are plain functions"
                )
    _connected.clear()
    _connected.update(registry)


def connected() -> Registry:
    """Return the handlers :func:`connect` gave the bus, as a copy.

    A copy, so that ``saved = connected(); connect(other); connect(saved)`` restores them.

    Returns:
        Event classes and their handlers.
    """
    return MappingProxyType(dict(_connected))


# --8<-- [start:publish]
def publish(event_type: type[Event], /, **fields: Any) -> Event:
    """Validate an event and run its handlers now, in the current transaction.

    Args:
        event_type: The event class.
        **fields: Its fields (ids and primitives).

    Returns:
        The event.

    Raises:
        InvalidEvent: The fields do not match the event's schema.
    """
    try:
        event = event_type(**fields)
    except ValidationError as error:
        raise InvalidEvent(
            f"{event_type.name}: {error.error_count()} invalid fields",
            extra={"errors": error.errors(include_url=False, include_context=False)},
        ) from error
    # Joins the caller's transaction (no savepoint: a failure rolls all of it back); outside
    # one, the handlers' writes commit together.
    with transaction.atomic(savepoint=False), ExitStack() as inside:
        for context in _handlers_run_inside:
            inside.enter_context(context())
        dispatch(event)
    return event


# --8<-- [end:publish]


def dispatch(event: Event, *, registry: Registry | None = None) -> None:
    """Run an event's handlers now, in order; the first that raises stops the rest.

    Args:
        event: The event.
        registry: The handlers (the connected registry by default).
    """
    for handler in (_connected if registry is None else registry).get(type(event), ()):
        handler(event)


def handler_loops(registry: Registry) -> list[list[str]]:
    """Find handler chains that loop: an event whose handlers publish it again, directly or not.

    Args:
        registry: Event classes and their handlers.

    Returns:
        Each loop as the event names along it (empty: none).
    """
    graph = {
        event: {
            published for handler in handlers for published in getattr(handler, "publishes", ())
        }
        for event, handlers in registry.items()
    }
    loops: list[list[str]] = []

    def walk(event: type[Event], path: list[type[Event]]) -> None:
        if event in path:
            loops.append([e.name for e in path[path.index(event) :]] + [event.name])
            return
        for following in sorted(graph.get(event, ()), key=lambda e: e.name):
            walk(following, [*path, event])

    for start in sorted(graph, key=lambda e: e.name):
        walk(start, [])
    unique = {tuple(sorted(loop[:-1])): loop for loop in loops}
    return list(unique.values())
