"""JSON log lines with ECS field names, written without blocking the event loop.

Every record, from our code, Django or a library, goes through the standard :mod:`logging`
module and comes out as one JSON object per line on standard output, which is what a container
runtime collects and Filebeat or Logstash read as is. structlog's processors render the line
(:class:`JsonFormatter`): its context variables carry the request id, user and task attempt
across ``await`` points and into ``sync_to_async`` threads, and its processors render records of
any origin the same way. The field names are the Elastic Common Schema's (``@timestamp``,
``log.level``, ``message``, ``http.request.id``, ``trace.id``, ``user.id``, ``url.path``,
``http.response.status_code``, ``event.duration`` in nanoseconds, ``error.*``); ``task.attempt``
has no ECS name.

The line is rendered in the thread that logs (where the context is), and written to the stream
by a background thread through a queue (:class:`NonBlockingHandler`): a full pipe or a slow disk
makes that thread wait, never the event loop.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import traceback
import weakref
from datetime import UTC, datetime
from logging.handlers import QueueHandler
from types import TracebackType
from typing import Any, TextIO

import orjson
import structlog
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from fashionistar.observability.context import (
    REQUEST_ID,
    USER_ID,
    current_request_user_id,
    user_id_of,
)

ECS_VERSION = "8.11.0"
FIRST_FIELDS = ("@timestamp", "log.level", "message")
"""ECS logging puts these first, in this order."""

_DROPPED = frozenset({"_record", "_from_structlog", "event", "exc_info", "asctime", "message"})
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _add_user_and_trace(
    logger: WrappedLogger, method_name: str, event_dict: EventDict
) -> EventDict:
    """Add ``user.id`` (when known) and ``trace.id``/``span.id`` (when a span is current)."""
    # merge_contextvars ran first: a user id bound in the context is in event_dict already.
    if USER_ID not in event_dict and (user_id := current_request_user_id()) is not None:
        event_dict[USER_ID] = user_id
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict["trace.id"] = format(span_context.trace_id, "032x")
        event_dict["span.id"] = format(span_context.span_id, "016x")
    return event_dict


def _error_fields(exc_info: _ExcInfo) -> dict[str, str]:
    error_type, error, error_traceback = exc_info
    return {
        "error.type": f"{error_type.__module__}.{error_type.__qualname__}",
        "error.message": str(error),
        "error.stack_trace": "".join(
            traceback.format_exception(error_type, error, error_traceback)
        ),
    }


_formatted_second: tuple[int, str] = (0, "1970-01-01T00:00:00")


def _timestamp(record: logging.LogRecord) -> str:
    """The record's time in UTC, to the millisecond, as ECS writes it (``...T12:00:00.250Z``).

    A second's date and time are formatted once, for every line of that second: formatting a
    time costs more than the rest of a line's fields together.
    """
    global _formatted_second
    second = int(record.created)
    formatted_second, formatted = _formatted_second
    if second != formatted_second:
        formatted = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _formatted_second = (second, formatted)
    return f"{formatted}.{int(record.msecs):03d}Z"


def _to_ecs(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Rename the record's fields to ECS, first fields first, and map Django's extras."""
    record: logging.LogRecord = event_dict["_record"]
    line: EventDict = {
        "@timestamp": _timestamp(record),
        "log.level": record.levelname.lower(),
        "message": event_dict["event"],
        "log.logger": record.name,
        "process.pid": record.process,
        "ecs.version": ECS_VERSION,
    }
    request = event_dict.pop("request", None)  # django.request's extra
    if isinstance(request, HttpRequest):
        # Django logs 4xx and 5xx responses after the middleware returned: the request's
        # context is gone, but the request still knows its id and user.
        line["url.path"] = request.path
        line["http.request.method"] = request.method
        event_dict.setdefault(REQUEST_ID, getattr(request, "request_id", None))
        event_dict.setdefault(USER_ID, user_id_of(request))
    if "status_code" in event_dict:
        line["http.response.status_code"] = event_dict.pop("status_code")
    exc_info = event_dict.get("exc_info")
    if isinstance(exc_info, tuple) and exc_info[0] is not None:
        line.update(_error_fields(exc_info))
    line.update(
        {
            key: value
            for key, value in event_dict.items()
            if key not in _DROPPED and value is not None
        }
    )
    return line


# --8<-- [start:json_formatter]
def _json(event_dict: EventDict, **_: Any) -> str:
    """Serialise a line with orjson (several times faster than :mod:`json`).

    What orjson refuses (an integer beyond 64 bits) goes through :mod:`json` instead; a value of
    no JSON type is written as its ``repr`` either way.
    """
    try:
        return orjson.dumps(event_dict, default=repr).decode()
    except TypeError:
        return json.dumps(event_dict, default=repr)


class JsonFormatter(logging.Formatter):
    """Render a standard library record as one ECS JSON line, through structlog's processors.

    structlog's ``ProcessorFormatter`` runs the same processors, after copying the record (so
    that a formatter of another handler sees it unchanged) and formatting it a second time
    through the standard ``Formatter``: work that a line made from a record of the standard
    library, which the shop's all are, does not need.
    """

    processors: tuple[Processor, ...] = (
        structlog.stdlib.ExtraAdder(),  # fields given with extra={...}
        structlog.contextvars.merge_contextvars,  # request id, task attempt, ...
        _add_user_and_trace,
        _to_ecs,
        structlog.processors.JSONRenderer(serializer=_json),
    )

    def format(self, record: logging.LogRecord) -> str:
        """Render the record.

        Args:
            record: The record (left unchanged).

        Returns:
            The line, without its terminator.
        """
        event_dict: Any = {"event": record.getMessage(), "_record": record}
        if record.exc_info:
            event_dict["exc_info"] = record.exc_info
        method_name = record.levelname.lower()
        for processor in self.processors:
            event_dict = processor(None, method_name, event_dict)
        line: str = event_dict
        return line


# --8<-- [end:json_formatter]


def json_formatter() -> JsonFormatter:
    """Build the formatter that turns a record into one ECS JSON line.

    Returns:
        The formatter (referenced from ``LOGGING``).
    """
    return JsonFormatter()


class _Flushed:
    """Put on the queue by :meth:`NonBlockingHandler.flush`: set when the writer reaches it."""

    def __init__(self) -> None:
        self.event = threading.Event()


class _Writer(threading.Thread):
    """The background thread: wakes every :attr:`INTERVAL_S` and writes what was queued meanwhile.

    A caller only appends to the queue: no thread waits on it, so no call wakes one up (waking
    a thread per line, as ``QueueListener`` does, costs the request more than rendering its
    line). The lines of a round go out in one write and one flush.
    """

    INTERVAL_S = 0.05

    def __init__(self, lines: queue.SimpleQueue[Any], handler: logging.StreamHandler[Any]) -> None:
        super().__init__(name="log-writer", daemon=True)
        self.lines = lines
        self.handler = handler
        self.wake = threading.Event()
        self.stopping = False

    def run(self) -> None:
        """Write what is queued every interval, or at once when woken; once more at the stop."""
        while not self.stopping:
            self.wake.wait(self.INTERVAL_S)
            self.wake.clear()
            self.write_queued()
        self.write_queued()

    def write_queued(self) -> None:
        """Write every queued line at once, then signal the flush markers queued among them."""
        lines: list[str] = []
        markers: list[_Flushed] = []
        while True:
            try:
                item = self.lines.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Flushed):
                markers.append(item)
            else:
                lines.append(item)
        if lines:
            terminator = self.handler.terminator
            try:
                self.handler.stream.write(terminator.join(lines) + terminator)
                self.handler.flush()
            except Exception:  # noqa: BLE001 - logging reports its own failures, never raises
                self.handler.handleError(logging.makeLogRecord({"msg": lines[0]}))
        for marker in markers:
            marker.event.set()

    def stop(self) -> None:
        """Write what is queued and end the thread."""
        self.stopping = True
        self.wake.set()
        self.join()


_live_handlers: weakref.WeakSet[NonBlockingHandler] = weakref.WeakSet()


class _StandardOutput:
    """Standard output as it is when a line is written, not when logging was set up.

    A test runner swaps ``sys.stdout`` for each test and closes its own at the end; lines
    written after that go to the real standard output instead of a closed file.
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


class NonBlockingHandler(QueueHandler):
    """Render a record in the caller, write it from a background thread (:class:`_Writer`).

    The queue is unbounded: a caller never waits. After a fork (a forking task worker) the
    child gets a new queue and writer thread, since threads do not survive a fork.
    """

    FLUSH_TIMEOUT_SECONDS = 5.0

    def __init__(self, stream: TextIO | None = None) -> None:
        """Start the writer thread.

        Args:
            stream: Where lines go; standard output by default.
        """
        super().__init__(queue.SimpleQueue())
        self.stream_handler: logging.StreamHandler[Any] = logging.StreamHandler(
            stream if stream is not None else _StandardOutput()
        )
        self.writer: _Writer | None = self._start_writer()
        _live_handlers.add(self)

    def _start_writer(self) -> _Writer:
        writer = _Writer(self.queue, self.stream_handler)  # type: ignore[arg-type]
        writer.start()
        return writer

    def prepare(self, record: logging.LogRecord) -> Any:
        """Render the record's line; the line, not a copy of the record, is queued.

        Args:
            record: The record.

        Returns:
            The line, without its terminator.
        """
        return self.format(record)

    def flush(self) -> None:
        """Wait (up to :attr:`FLUSH_TIMEOUT_SECONDS`) until every line logged so far is written."""
        if self.writer is not None:
            marker = _Flushed()
            self.queue.put_nowait(marker)
            self.writer.wake.set()
            marker.event.wait(self.FLUSH_TIMEOUT_SECONDS)

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        if self.writer is not None:
            self.writer.stop()
            self.writer = None
        _live_handlers.discard(self)
        super().close()

    def restart_after_fork(self) -> None:
        """Give a forked child its own queue and writer thread (what is queued is the parent's)."""
        if self.writer is not None:
            self.queue = queue.SimpleQueue()
            self.writer = self._start_writer()


def _restart_handlers_after_fork() -> None:
    for handler in list(_live_handlers):
        handler.restart_after_fork()


os.register_at_fork(after_in_child=_restart_handlers_after_fork)


class AnsweredOnPurpose(logging.Filter):
    """Drop ``django.request``'s line for a 503: the shop answers one only on purpose.

    Django logs every 5xx response at ERROR ("Service Unavailable: /path"), with no more than
    the access line says. The shop answers 503 when the database did not answer (the API logs
    the cause once, as a warning) or when a readiness check fails (its body names the failing
    part, and probes ask every few seconds): under load or in an outage, Django's line would
    double the log for nothing. An exception nobody handled is a 500, and keeps its line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Tell whether the record is not about a 503 response.

        Args:
            record: A record of ``django.request``.

        Returns:
            ``False`` for a 503 response's record.
        """
        return getattr(record, "status_code", None) != 503


# --8<-- [start:lean_records]
def skip_unused_record_fields() -> None:
    """Stop the standard library from filling in the record fields that no line shows.

    Each record would otherwise walk the stack for the caller's file, function and line, and
    look up the current thread, multiprocessing process and asyncio task: the switches below are
    the ones the logging HOWTO lists under "Optimization". The ECS line keeps ``process.pid``.
    """
    logging._srcfile = None  # private, but the switch the HOWTO documents
    logging.logThreads = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12's, not in typeshed


# --8<-- [end:lean_records]


def log_level_from_env(name: str, *, default: str = "INFO") -> str:
    """Read a log level name (``DEBUG``, ``INFO``, ``WARNING``, ``ERROR``, ``CRITICAL``).

    Args:
        name: The variable.
        default: The level when it is not set.

    Returns:
        The level, upper case.

    Raises:
        ImproperlyConfigured: It is not a level name.
    """
    level = os.environ.get(name, default).strip().upper()
    if level not in logging.getLevelNamesMapping():
        raise ImproperlyConfigured(f"{name}={level!r} is not a log level (use INFO, DEBUG, ...)")
    return level


# --8<-- [start:logging_config]
def logging_config(*, level: str) -> dict[str, Any]:
    """Build ``LOGGING``: every logger, Django's included, writes ECS JSON lines to stdout.

    Django's own handlers (console when ``DEBUG``, e-mail to ``ADMINS`` on errors) are
    replaced: its records reach the root logger like everyone else's.

    Args:
        level: The root level.

    Returns:
        The ``dictConfig`` dictionary.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "fashionistar.observability.logging.json_formatter"}},
        "filters": {
            "answered_on_purpose": {"()": "fashionistar.observability.logging.AnsweredOnPurpose"}
        },
        "handlers": {
            "json": {
                "()": "fashionistar.observability.logging.NonBlockingHandler",
                "formatter": "json",
            }
        },
        "root": {"handlers": ["json"], "level": level},
        "loggers": {
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.request": {"filters": ["answered_on_purpose"]},
            "_granian": {"handlers": [], "level": level, "propagate": True},  # granian's workers
        },
    }


# --8<-- [end:logging_config]
