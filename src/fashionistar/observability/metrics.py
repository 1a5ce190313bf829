"""Prometheus metrics: requests, queries, cache, task queues; correct with several processes.

A server runs several worker processes (``granian --workers N``) and a scrape reaches one of them.
With ``PROMETHEUS_MULTIPROC_DIR`` set (to an empty directory, before the processes start, the
same for all of them), each process writes its samples to memory-mapped files there, and the
process that answers the scrape adds up every process's files. Without it, the process
answers with its own samples only, which is right for one process.

The queue figures are not counted by the processes: they are read from RQ's registries on Redis
at scrape time (:class:`QueueCollector`), so every process answers the same.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

REGISTRY = CollectorRegistry()
"""The metrics this application counts (not the client library's default registry)."""

KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
"""HTTP's standard methods. Others are labelled ``other`` (and ``_OTHER`` on a span): a client
must not be able to invent label values or span names."""

UNMATCHED_ROUTE = "<unmatched>"
"""The route label of a request no URL pattern matched (404s of unknown paths)."""

# --8<-- [start:metrics]
REQUEST_DURATION = Histogram(
    "fashionistar_http_request_duration_seconds",
    "Time from the first middleware to the response, by URL pattern, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
DB_QUERIES = Histogram(
    "fashionistar_db_queries_per_request",
    "SQL statements one request ran.",
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144),
    registry=REGISTRY,
)
CACHE_REQUESTS = Counter(
    "fashionistar_cache_requests_total",
    "Cache reads through Django's cache, by result.",
    ["result"],
    registry=REGISTRY,
)
CATALOG_ANSWERS = Counter(
    "fashionistar_catalog_answers_total",
    "Catalog answers (list pages, product details), by where they came from.",
    ["source"],  # "cache" or "database"
    registry=REGISTRY,
)
CATALOG_FROM_CACHE = CATALOG_ANSWERS.labels(source="cache")
CATALOG_FROM_DATABASE = CATALOG_ANSWERS.labels(source="database")
TASK_DURATION = Histogram(
    "fashionistar_task_duration_seconds",
    "Run time of one task attempt, by queue.",
    ["queue"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
    registry=REGISTRY,
)
# --8<-- [end:metrics]


class _SamplesFiles(MultiProcessCollector):
    """The client library's collector of every process's files, past a file still being created.

    A process creates its file, then sizes it: for a moment the file is empty, and the library
    reads its header from it all the same, so the whole scrape fails (prometheus/client_python
    issue 1199). A forking worker creates a file per task, so a scrape met one now and then; a
    process killed in that moment leaves the empty file behind, and every scrape failed after
    it. An empty file holds no sample: it is left out. A file only grows, so one seen with a
    size has its header.
    """

    def collect(self) -> Iterable[Metric]:
        """Add up the samples of every process's files that hold any.

        Returns:
            The metrics, each process's samples added up.
        """
        files = []
        for path in glob.glob(os.path.join(self._path, "*.db")):
            with contextlib.suppress(FileNotFoundError):  # the library drops dead gauges' files
                if os.stat(path).st_size:
                    files.append(path)
        merged: Iterable[Metric] = self.merge(files, accumulate=True)  # type: ignore[no-untyped-call]
        return merged


def process_registry() -> CollectorRegistry:
    """Return the samples the processes count: every process's (multiprocess mode) or this one's.

    Returns:
        The registry.
    """
    if not os.environ.get(MULTIPROCESS_VARIABLE):
        return REGISTRY
    registry = CollectorRegistry()
    _SamplesFiles(registry)  # type: ignore[no-untyped-call]
    return registry


_read_at_scrape: list[Collector] = []


def expose_on_scrape(collector: Collector) -> None:
    """Add a collector that ``/metrics`` reads when Prometheus scrapes (an app's ``ready()``).

    Args:
        collector: Reads its figures at scrape time (the task queues register theirs).
    """
    _read_at_scrape.append(collector)


@functools.cache
def scrape_registry() -> CollectorRegistry:
    """Return what ``/metrics`` exposes, built once per process.

    Returns:
        Every process's samples (multiprocess mode) or this process's, and the collectors of
        :func:`expose_on_scrape`.
    """
    registry = process_registry()
    for collector in _read_at_scrape:
        registry.register(collector)
    return registry


# --8<-- [start:worker_metrics]
def serve_worker_metrics(*, port: int, forking: bool) -> None:
    """Serve a task worker's samples (task durations) over HTTP, from a thread of the worker.

    The queue gauges are left to the web's ``/metrics``: every worker would report the same.

    Args:
        port: The port (all interfaces: Prometheus scrapes it from another container).
        forking: The worker runs each task in a forked child, which exits with ``os._exit``:
            its samples survive only in ``PROMETHEUS_MULTIPROC_DIR``.

    Raises:
        ImproperlyConfigured: A forking worker without ``PROMETHEUS_MULTIPROC_DIR``.
    """
    if forking and not os.environ.get(MULTIPROCESS_VARIABLE):
        raise ImproperlyConfigured(
            f"a forking worker's tasks run in child processes: set {MULTIPROCESS_VARIABLE} "
            "to an empty directory to export their durations"
        )
    start_http_server(port, registry=process_registry())


# --8<-- [end:worker_metrics]


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Answer a Prometheus scrape.

    Args:
        request: The request.

    Returns:
        The metrics in Prometheus' text format.
    """
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


class QueryCount:
    """The number of SQL statements run from its creation to :meth:`stop`, in any thread."""

    __slots__ = ("_token", "count")

    def __init__(self) -> None:
        """Start counting in this context (and the threads it hands work to)."""
        self.count = 0
        self._token = _query_count.set(self)

    def stop(self) -> None:
        """Stop counting: ``count`` is final."""
        _query_count.reset(self._token)


_query_count: ContextVar[QueryCount | None] = ContextVar("fashionistar_queries", default=None)


def count_query(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Count one statement in the current :class:`QueryCount`, if any, then run it.

    A Django execute wrapper. The count lives in a context variable, not on the connection:
    under ASGI the queries of a request run in a worker thread, whose connection is not the
    event loop thread's.

    Args:
        execute: The next wrapper, or the cursor's execute.
        sql: The statement.
        params: Its parameters.
        many: Whether it is ``executemany``.
        context: Django's context (connection, cursor).

    Returns:
        What ``execute`` returns.
    """
    counter = _query_count.get()
    if counter is not None:
        counter.count += 1
    return execute(sql, params, many, context)


def install_query_counter(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Add :func:`count_query` to a new connection (a ``connection_created`` receiver).

    Args:
        sender: The backend's wrapper class.
        connection: The connection's wrapper (kept across reconnects: add the counter once).
        **kwargs: The signal's other arguments.
    """
    if count_query not in connection.execute_wrappers:
        connection.execute_wrappers.append(count_query)


def request_observe(
    *, request: HttpRequest, response: HttpResponseBase, seconds: float, queries: int
) -> None:
    """Record one request's latency and query count.

    Args:
        request: The request (its URL pattern is the route label).
        response: The response.
        seconds: Its latency.
        queries: SQL statements it ran.
    """
    match = request.resolver_match
    _request_duration(
        match.route if match is not None else UNMATCHED_ROUTE,
        request.method if request.method in KNOWN_METHODS else "other",
        response.status_code,
    ).observe(seconds)
    DB_QUERIES.observe(queries)


@functools.cache
def _request_duration(route: str, method: str, status: int) -> Histogram:
    """The latency histogram of one route, method and status.

    ``labels()`` checks the label names and takes a lock on every call; each combination's
    child is looked up once instead. There are few: the URL patterns, the standard methods and
    the statuses the shop answers.
    """
    return REQUEST_DURATION.labels(route, method, str(status))


@contextmanager
def task_timed(*, queue: str) -> Iterator[None]:
    """Record the run time of one task attempt (the task worker wraps each attempt in this).

    Args:
        queue: The task's queue.

    Yields:
        Nothing; the attempt runs inside. Failed attempts are timed too.
    """
    with TASK_DURATION.labels(queue=queue).time():
        yield
