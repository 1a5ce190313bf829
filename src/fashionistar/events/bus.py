"""An in-process event bus for domain logic, instead of Django signals.

The contract, as Django writes its own dispatcher's:

- **Events** are frozen Pydantic models with a dotted, past-tense ``name``
  (``orders.order.placed``) and fields of ids and primitives only; :func:`publish` validates
  them strictly, so an event is what its schema says or it is not published.
- **After commit**: an event published inside a transaction is dispatched when it commits, and
  never if it rolls back. Its outbox entry is written in the transaction: if the process dies
  between commit and dispatch, the workers' sweep dispatches it later (at least once, so
  handlers must be idempotent).
- **Order**: the handlers of an event run one after another, in the order the registry lists
  them; events published in one transaction are dispatched in the order they were published,
  each one's handlers all done before the next event's start.
- **Isolation**: a handler that raises is logged with its traceback and skipped; the others
  still run, and :func:`publish` does not raise.
- **Handlers** are ``async def`` functions taking the event; they are registered in one place,
  :mod:`fashionistar.events.registry`, where a system check refuses handler chains that loop.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar

from asgiref.sync import async_to_sync
from django.db import transaction
from django.utils import timezone
from pydantic import BaseModel, ConfigDict, ValidationError

from fashionistar.errors import ApplicationError
from fashionistar.tasks.models import OutboxEntry, OutboxKind

logger = logging.getLogger(__name__)

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


type Handler = Callable[[Any], Awaitable[None]]
type Registry = Mapping[type[Event], Sequence[Handler]]


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


def _registry() -> Registry:
    from fashionistar.events.registry import HANDLERS  # the registry imports every domain

    return HANDLERS


# --8<-- [start:publish]
def publish(event_type: type[Event], /, **fields: Any) -> Event:
    """Validate an event and dispatch it after the current transaction commits.

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
    entry = OutboxEntry.objects.create(
        kind=OutboxKind.EVENT, name=event.name, payload=event.model_dump(mode="json")
    )
    # robust: a failing dispatch is logged, not raised into the request that committed; the
    # entry stays in the outbox and the sweep dispatches it again.
    transaction.on_commit(functools.partial(_dispatch_entry, entry, event), robust=True)
    return event


# --8<-- [end:publish]


def _dispatch_entry(entry: OutboxEntry, event: Event) -> None:
    async_to_sync(dispatch)(event)
    OutboxEntry.objects.filter(pk=entry.pk).delete()


def redispatch(entry: OutboxEntry) -> None:
    """Dispatch an event from its outbox entry (the sweep calls this for a lost dispatch).

    Args:
        entry: An event's entry.
    """
    event_type = next((kind for kind in _registry() if kind.name == entry.name), None)
    if event_type is None:
        logger.error("outbox entry %s: no event is named %s", entry.pk, entry.name)
        OutboxEntry.objects.filter(pk=entry.pk).update(failed_at=timezone.now())
        return
    _dispatch_entry(entry, event_type.model_validate(entry.payload, strict=False))


async def dispatch(event: Event, *, registry: Registry | None = None) -> int:
    """Run an event's handlers now, in order, each failure isolated.

    Args:
        event: The event.
        registry: The handlers (the project's registry by default).

    Returns:
        How many handlers succeeded.
    """
    succeeded = 0
    for handler in (registry or _registry()).get(type(event), ()):
        try:
            await handler(event)
        except Exception:  # one handler's failure must not stop the others
            logger.exception("handler %s failed on %s", handler.__qualname__, event.name)
        else:
            succeeded += 1
    return succeeded


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
