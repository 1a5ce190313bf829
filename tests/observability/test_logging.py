from __future__ import annotations

import io
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import structlog
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.utils.log import log_response
from opentelemetry import trace
from rest_framework.authtoken.models import Token

from fashionistar.audit.models import AuditEntry
from fashionistar.observability.logging import (
    JsonFormatter,
    NonBlockingHandler,
    json_formatter,
    log_level_from_env,
)
from fashionistar.observability.propagation import restore
from fashionistar.observability.tracing import memory_exporter
from tests.factories import make_user

logger = logging.getLogger("tests.observability")


def raised(error: Exception) -> tuple[type[BaseException], BaseException, object]:
    try:
        raise error
    except Exception as caught:  # noqa: BLE001 - the test's own exception
        return type(caught), caught, caught.__traceback__


def access_line(lines, path):
    return next(
        line
        for line in lines
        if line.get("url.path") == path and line["log.logger"] == "fashionistar.request"
    )


@pytest.mark.django_db
def test_a_request_ends_with_one_ecs_access_line(log_lines) -> None:
    response = Client().get("/api/sync/catalog/products", headers={"X-Request-ID": "abc-123"})

    line = access_line(log_lines(), "/api/sync/catalog/products")
    assert list(line)[:3] == ["@timestamp", "log.level", "message"]
    assert line["@timestamp"].endswith("Z")
    assert line["log.level"] == "info"
    assert line["message"] == "GET /api/sync/catalog/products 200"
    assert line["http.request.id"] == response["X-Request-ID"] == "abc-123"
    assert line["http.request.method"] == "GET"
    assert line["http.response.status_code"] == 200
    assert isinstance(line["event.duration"], int)
    assert line["event.duration"] > 0
    assert line["process.pid"] == os.getpid()
    assert "user.id" not in line  # anonymous


@pytest.mark.django_db
def test_the_access_line_names_the_user_the_api_authenticated(log_lines) -> None:
    user = make_user()
    token = Token.objects.create(user=user).key
    Client().get("/api/sync/orders", headers={"Authorization": f"Token {token}"})

    assert access_line(log_lines(), "/api/sync/orders")["user.id"] == str(user.pk)


@pytest.mark.django_db(transaction=True)
def test_under_asgi_too_and_the_audit_row_has_the_same_id(log_lines) -> None:
    async def post():
        return await AsyncClient().post(
            "/api/async/auth/token",
            {"username": "nobody", "password": "wrong"},
            content_type="application/json",
            headers={"X-Request-ID": "not a safe id"},
        )

    response = async_to_sync(post)()
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32  # the unsafe one was replaced
    line = access_line(log_lines(), "/api/async/auth/token")
    assert line["http.request.id"] == request_id
    assert line["http.response.status_code"] == response.status_code
    assert AuditEntry.objects.get().request_id == request_id


@pytest.mark.django_db
def test_djangos_own_error_lines_carry_the_request_id(log_lines) -> None:
    response = Client().get("/api/sync/catalog/products/no-such-product")

    (line,) = [line for line in log_lines() if line["log.logger"] == "django.request"]
    assert line["log.level"] == "warning"
    assert line["http.request.id"] == response["X-Request-ID"]
    assert line["url.path"] == "/api/sync/catalog/products/no-such-product"
    assert line["http.response.status_code"] == 404


@pytest.mark.parametrize(("status", "logged"), [(503, False), (500, True), (502, True)])
def test_django_logs_every_5xx_response_but_a_503_the_shop_answers_on_purpose(
    log_lines, status: int, logged: bool
) -> None:
    request = RequestFactory().get("/api/async/orders")
    log_response(
        "%s: %s", "Refused", request.path, response=HttpResponse(status=status), request=request
    )

    lines = [line for line in log_lines() if line["log.logger"] == "django.request"]
    assert len(lines) == logged


def test_an_exception_is_split_into_ecs_error_fields(log_lines) -> None:
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed")

    (line,) = log_lines()
    assert line["message"] == "lookup failed"
    assert line["log.level"] == "error"
    assert line["error.type"] == "builtins.KeyError"
    assert line["error.message"] == "'missing'"
    assert line["error.stack_trace"].startswith("Traceback (most recent call last):")
    assert "exc_info" not in line


def test_extra_fields_and_a_task_context_reach_the_line(log_lines) -> None:
    with restore({"request_id": "req-9", "user_id": "4"}, attempt=3):
        logger.warning("retrying %s", "order 12", extra={"order.id": 12})

    (line,) = log_lines()
    assert line["message"] == "retrying order 12"
    assert (line["http.request.id"], line["user.id"], line["task.attempt"]) == ("req-9", "4", 3)
    assert line["order.id"] == 12


def test_values_orjson_cannot_write_still_reach_the_line() -> None:
    line = json_formatter().format(
        a_record(msg="odd values", **{"big": 2**70, "thing": frozenset({"x"})})
    )

    assert '"big": 1180591620717411303424' in line
    assert '"thing": "frozenset({\'x\'})"' in line


@pytest.mark.parametrize(
    "created", [1_764_849_600.25, 1_764_849_600.999, 1_764_849_601.0, 1_764_849_600.5]
)
def test_the_timestamp_is_the_records_time_in_utc_to_the_millisecond(created) -> None:
    record = a_record(msg="at a time")
    record.created, record.msecs = created, int((created - int(created)) * 1000)

    line = json.loads(json_formatter().format(record))

    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert line["@timestamp"] == expected.replace("+00:00", "Z")


def a_record(**fields: object) -> logging.LogRecord:
    return logging.makeLogRecord(
        {"name": "tests.observability", "levelno": logging.ERROR, "levelname": "ERROR", **fields}
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"msg": "paid %s", "args": ("order 7",), "order.id": 7},
        {"msg": "lookup failed", "exc_info": raised(KeyError("missing"))},
    ],
    ids=["extra fields", "an exception"],
)
def test_the_line_is_structlogs_processor_formatters_and_the_record_is_left_alone(
    fields,
) -> None:
    record = a_record(**fields)
    before = dict(record.__dict__)
    reference = structlog.stdlib.ProcessorFormatter(processors=list(JsonFormatter.processors))

    with restore({"request_id": "req-5"}, attempt=1):
        line = json_formatter().format(record)
        assert record.__dict__ == before  # another handler's formatter sees the record as made
        assert line == reference.format(record)


def test_a_line_inside_a_span_carries_its_trace_and_span_ids(log_lines) -> None:
    memory_exporter()  # an SDK tracer provider, so spans have real ids
    with trace.get_tracer(__name__).start_as_current_span("work") as span:
        logger.info("inside")
    (line,) = log_lines()
    assert line["trace.id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span.id"] == format(span.get_span_context().span_id, "016x")


class StuckStream(io.StringIO):
    """A stream whose writes wait until released, like a full pipe nobody reads."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.writers: set[str] = set()

    def write(self, text: str) -> int:
        self.writers.add(threading.current_thread().name)
        self.release.wait(10)
        return super().write(text)


@contextmanager
def writing_to(
    stream: io.StringIO, *, logger: str
) -> Iterator[tuple[logging.Logger, NonBlockingHandler]]:
    """A logger whose lines go through the project's handler to ``stream``; closed after."""
    handler = NonBlockingHandler(stream)
    handler.setFormatter(json_formatter())
    chosen = logging.getLogger(logger)
    chosen.addHandler(handler)
    try:
        yield chosen, handler
    finally:
        chosen.removeHandler(handler)
        handler.close()


def test_logging_does_not_wait_for_a_stuck_stream() -> None:
    stream = StuckStream()
    with writing_to(stream, logger="tests.stuck") as (stuck, handler):
        for number in range(100):
            stuck.warning("line %d", number)  # returns although nothing can be written
        assert stream.getvalue() == ""
        stream.release.set()
        handler.flush()
        assert stream.getvalue().count("\n") == 100
        assert threading.current_thread().name not in stream.writers


class CountedStream(io.StringIO):
    """A stream that counts its writes."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_the_lines_logged_between_two_rounds_of_the_writer_go_out_in_one_write() -> None:
    stream = CountedStream()
    with writing_to(stream, logger="tests.busy") as (busy, handler):
        for number in range(200):  # a few rounds of the writer at most, even on a busy machine
            busy.warning("line %d", number)
        handler.flush()
        assert stream.getvalue().count("\n") == 200
        assert stream.writes <= 10  # not one per line


class BrokenStream(io.StringIO):
    """A stream that refuses its first write (a closed pipe, a full disk)."""

    refused = False

    def write(self, text: str) -> int:
        if not self.refused:
            self.refused = True
            raise OSError("No space left on device")
        return super().write(text)


def test_a_write_the_stream_refuses_is_reported_and_the_next_lines_still_go_out(capsys) -> None:
    stream = BrokenStream()
    with writing_to(stream, logger="tests.full") as (full, handler):
        full.warning("lost with the refused write")
        handler.flush()
        full.warning("written")
        handler.flush()
    report = capsys.readouterr().err
    assert "--- Logging error ---" in report
    assert "No space left on device" in report
    assert "lost with the refused write" in report  # the first line of the refused write
    assert "written" in stream.getvalue()


def test_a_forked_child_writes_its_lines_through_its_own_thread() -> None:
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    handler = NonBlockingHandler(stream)
    handler.setFormatter(json_formatter())
    forked = logging.getLogger("tests.forked")
    forked.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running
            child = os.fork()
        if child == 0:
            forked.warning("from the child")
            handler.flush()
            os._exit(0)
        os.waitpid(child, 0)
        forked.warning("from the parent")
        handler.flush()
    finally:
        forked.removeHandler(handler)
        handler.close()
        stream.close()
    with os.fdopen(read_end) as lines:
        text = lines.read()
    assert text.count("from the child") == 1
    assert text.count("from the parent") == 1


def test_a_wrong_log_level_stops_start_up_with_the_variables_name(monkeypatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ImproperlyConfigured, match="LOG_LEVEL='CHATTY'"):
        log_level_from_env("LOG_LEVEL")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert log_level_from_env("LOG_LEVEL") == "DEBUG"


def test_records_skip_the_caller_and_thread_lookups_and_keep_the_process() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        logger.warning("lean")
    finally:
        logger.removeHandler(handler)

    (record,) = records
    assert (record.funcName, record.lineno) == ("(unknown function)", 0)  # no stack walk
    assert record.threadName is None
    assert record.processName is None
    assert record.process == os.getpid()  # the line's process.pid
