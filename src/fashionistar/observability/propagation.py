"""Carry a request's context into the tasks it enqueues: request id, user, trace.

The task backend calls :func:`capture` when it enqueues a task (inside the request) and stores
the result with the job; the worker runs the task inside :func:`restore`. The task's log lines
then carry the request's id, the user and the attempt number, and its span joins the request's
trace (W3C ``traceparent``, written by OpenTelemetry's configured propagator).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from structlog.contextvars import bound_contextvars

from fashionistar.observability.context import (
    REQUEST_ID,
    TASK_ATTEMPT,
    USER_ID,
    current_request_id,
    current_user_id,
)

REQUEST_ID_KEY = "request_id"
"""Key of the request id in a carrier."""

USER_ID_KEY = "user_id"
"""Key of the user id in a carrier."""

_tracer = trace.get_tracer(__name__)


# --8<-- [start:propagation]
def capture() -> dict[str, str]:
    """Return the context to store with a task enqueued now.

    Returns:
        Text keys and values (they survive a JSON round trip): ``request_id`` and ``user_id``
        when known, and ``traceparent`` (and ``tracestate``) when a span is active.
    """
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    request_id, user_id = current_request_id(), current_user_id()
    if request_id is not None:
        carrier[REQUEST_ID_KEY] = request_id
    if user_id is not None:
        carrier[USER_ID_KEY] = user_id
    return carrier


@contextmanager
def restore(carrier: Mapping[str, str], *, attempt: int, name: str = "task") -> Iterator[None]:
    """Run one attempt of a task in the context :func:`capture` stored.

    Log lines written inside carry the request id, the user id and ``task.attempt``; a span
    ``name`` (kind ``CONSUMER``) is current, a child of the request's span when the carrier
    holds one, else the root of a new trace. An exception leaving the block is recorded on the
    span (status error) and propagates.

    Args:
        carrier: What :func:`capture` returned (unknown or malformed keys are ignored).
        attempt: The attempt number, from 1.
        name: The span's name, for example the task's import path.

    Yields:
        Nothing; the task runs inside.
    """
    fields: dict[str, Any] = {TASK_ATTEMPT: attempt}
    for key, field in ((REQUEST_ID_KEY, REQUEST_ID), (USER_ID_KEY, USER_ID)):
        value = carrier.get(key)
        if isinstance(value, str) and value:
            fields[field] = value
    parent = propagate.extract(carrier)
    with (
        bound_contextvars(**fields),
        _tracer.start_as_current_span(
            name,
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={TASK_ATTEMPT: attempt},
        ),
    ):
        yield


# --8<-- [end:propagation]
