"""The shop's ASGI application as the benchmarks serve it: unchanged, plus the SQL timer.

The worker writes its timings when granian stops it (the lifespan ``shutdown`` event).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bench_timer import dump, timed_route

from fashionistar.project.asgi import application as shop

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve the shop; answer the server's lifespan events, writing the timings at shutdown.

    Args:
        scope: The ASGI scope.
        receive: The ASGI receive channel.
        send: The ASGI send channel.
    """
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                dump()
                await send({"type": "lifespan.shutdown.complete"})
                return
    with timed_route(scope["path"]):
        await shop(scope, receive, send)
