"""The shop's ASGI application as the benchmarks serve it: unchanged, plus the SQL timer.

The deploy files' command runs it without the lifespan protocol (granian's ``asginl``), so no
event says the worker is stopping. As :mod:`bench_wsgi` does, the worker writes its timings from
a ``multiprocessing`` finalizer, which runs when granian's serving loop returns after SIGTERM.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from multiprocessing.util import Finalize
from typing import Any

from bench_timer import dump, timed_route

from fashionistar.project.asgi import application as shop

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

Finalize(None, dump, exitpriority=10)


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the shop, timing each statement under the request's route.

    Args:
        scope: The ASGI scope.
        receive: The ASGI receive channel.
        send: The ASGI send channel.
    """
    with timed_route(scope["path"]):
        await shop(scope, receive, send)
