"""An ASGI and a WSGI application with a request still in flight when the server is told to stop.

``/ready`` answers at once; any other path creates the file named by ``$SLOW_APP_STARTED``, then
answers after :data:`ANSWER_S`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
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
        Path(os.environ["SLOW_APP_STARTED"]).touch()
        await asyncio.sleep(ANSWER_S)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"finished"})


def wsgi_application(
    environ: dict[str, Any], start_response: Callable[[str, list[tuple[str, str]]], object]
) -> Iterable[bytes]:
    """Answer ``/ready`` at once and every other path after :data:`ANSWER_S`."""
    if environ["PATH_INFO"] != "/ready":
        Path(os.environ["SLOW_APP_STARTED"]).touch()
        time.sleep(ANSWER_S)
    start_response("200 OK", [("Content-Length", "8")])
    return [b"finished"]
