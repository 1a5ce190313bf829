"""The shop's WSGI application as the benchmarks serve it: unchanged, plus the SQL timer.

granian runs each WSGI worker as a ``multiprocessing`` process, which leaves through
``os._exit`` and so runs no ``atexit`` hook: the worker writes its timings from a
``multiprocessing`` finalizer, which runs when granian's serving loop returns after SIGTERM.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from multiprocessing.util import Finalize
from typing import Any

from bench_timer import dump, timed_route

from fashionistar.project.wsgi import application as shop

Finalize(None, dump, exitpriority=10)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Serve the shop, timing each statement under the request's route.

    Args:
        environ: The WSGI environment.
        start_response: The WSGI callable.

    Returns:
        The shop's response.
    """
    with timed_route(environ["PATH_INFO"]):
        return shop(environ, start_response)  # type: ignore[no-any-return]
