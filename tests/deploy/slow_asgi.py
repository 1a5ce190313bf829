"""An ASGI application with a request that is still in flight when the server is told to stop.

``/ready`` answers at once; any other path creates the file named by ``$SLOW_ASGI_STARTED``, then
answers after :data:`ANSWER_S`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

ANSWER_S = 2.0

Message = MutableMapping[str, Any]


async def application(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Answer ``/ready`` at once and every other path after :data:`ANSWER_S`; accept lifespan."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["path"] != "/ready":
        Path(os.environ["SLOW_ASGI_STARTED"]).touch()
        await asyncio.sleep(ANSWER_S)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"finished"})
