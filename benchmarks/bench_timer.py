"""The SQL timer of the shop's applications as the benchmarks serve them.

:mod:`bench_asgi` and :mod:`bench_wsgi` serve the shop with it. A Django execute wrapper
(installed on each new connection, like the shop's own query counter) records how long each
statement took, keyed by the route of the request that ran it (:func:`timed_route`). The timer
costs two ``perf_counter()`` calls and a list append per statement. When granian stops a
worker, the worker writes its timings to ``$BENCH_QUERY_DIR/<pid>.json`` (:func:`dump`), which
:meth:`common.AppServer.query_times` reads.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from common import route_of
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

_route: ContextVar[str] = ContextVar("bench_route", default="<no request>")
_timings: dict[str, list[float]] = {}


def timed_execute(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    """Run a statement and record its duration under the current request's route.

    Args:
        execute: The next wrapper, or the cursor's execute.
        sql: The statement.
        params: Its parameters.
        many: Whether it is ``executemany``.
        context: Django's context.

    Returns:
        What ``execute`` returns.
    """
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        _timings.setdefault(_route.get(), []).append(time.perf_counter() - started)


def install_timer(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Add :func:`timed_execute` to a new connection (a ``connection_created`` receiver).

    Args:
        sender: The backend's wrapper class.
        connection: The connection's wrapper.
        **kwargs: The signal's other arguments.
    """
    if timed_execute not in connection.execute_wrappers:
        connection.execute_wrappers.append(timed_execute)


connection_created.connect(install_timer)


def dump() -> None:
    """Write this worker's timings to ``$BENCH_QUERY_DIR/<pid>.json``, when that is set."""
    folder = os.environ.get("BENCH_QUERY_DIR")
    if folder:
        (Path(folder) / f"{os.getpid()}.json").write_text(json.dumps(_timings))


@contextmanager
def timed_route(path: str) -> Iterator[None]:
    """Record the statements run inside under the route of ``path``.

    Args:
        path: The request's path.

    Yields:
        Nothing.
    """
    token = _route.set(route_of(path))
    try:
        yield
    finally:
        _route.reset(token)
