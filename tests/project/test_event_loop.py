"""No callback blocks the event loop: the shop's async paths, through the real ASGI application.

asyncio's debug mode logs ``Executing <callback> took 0.123 seconds`` (logger ``asyncio``) for
every callback or task step that holds the loop longer than ``loop.slow_callback_duration``: a
synchronous query or network call, or a slow computation, in async code. The requests go through
the whole ASGI application (the static files layer, the middleware, both auth classes, the
throttle in Redis, the async ORM, the health checks) with httpx's ``ASGITransport``, each in a
task named after it, so that a warning names its request.

A callback that blocks does so in every round. One slowed down by the machine (another process
on the CPU, a garbage collection) is slow once: a request fails the test when it is slow in most
rounds, and the assertion shows every slow callback seen.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from fashionistar.project.asgi import application
from tests.api_support import token_for
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db(transaction=True)

SLOW_CALLBACK_S = 0.05
ROUNDS = 5


class SlowCallbacks(logging.Handler):
    """Collects asyncio's "Executing ... took ..." warnings."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Executing "):
            self.lines.append(message)

    def take_culprits(self) -> set[str]:
        """The tasks (requests) or callbacks that were slow since the last call."""
        culprits = {
            found.group(1) if (found := re.search(r"name='([^']*)'", line)) else line[:120]
            for line in self.lines
        }
        self.seen += self.lines
        self.lines = []
        return culprits


@pytest.fixture
def slow_callbacks() -> Iterator[SlowCallbacks]:
    handler = SlowCallbacks()
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(handler)
    yield handler
    asyncio_logger.removeHandler(handler)


def in_debug_loop(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main`` in a new event loop in debug mode, reporting callbacks over 50 ms."""
    with asyncio.Runner(debug=True) as runner:
        runner.get_loop().slow_callback_duration = SLOW_CALLBACK_S
        return runner.run(main())


async def request(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """Send one request in a task named after it: a slow-callback warning names the request."""
    name = f"{method} {httpx.URL(url, params=kwargs.get('params'))}"
    return await asyncio.create_task(client.request(method, url, **kwargs), name=name)


async def shop_round(client: httpx.AsyncClient, *, token: str, slug: str, variant_id: int) -> None:
    """Every async path once: catalog list and detail, an order, the health endpoints."""
    user = {"Authorization": f"Token {token}"}
    order = {"items": [{"variant_id": variant_id, "quantity": 1}]}
    answers = [
        await request(client, "GET", "/api/async/catalog/products"),
        await request(client, "GET", "/api/async/catalog/products", params={"search": "dress"}),
        await request(client, "GET", f"/api/async/catalog/products/{slug}"),
        await request(client, "POST", "/api/async/orders", json=order, headers=user),
        await request(client, "GET", "/api/async/orders", headers=user),
        await request(client, "GET", "/livez"),
        await request(client, "GET", "/healthz"),
        await request(client, "GET", "/readyz"),
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 200, 200, 201, 200, 200, 200, 200], [a.text for a in answers]
    # Answers 503 while jobs wait with no worker to serve them; it answered all the same.
    assert "queues" in (await request(client, "GET", "/healthz/tasks")).json()


def test_the_async_paths_never_block_the_loop(slow_callbacks, settings) -> None:
    dress = make_product(name="Silk Dress", stock=100)
    slug, variant_id = dress.slug, variant_of(dress).pk
    token = token_for(make_user())
    slow_in_rounds: Counter[str] = Counter()

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            # Warm-up, not measured: the first round imports modules, opens the database and
            # Redis connections, fills the catalog cache and builds Ninja's schema.
            await shop_round(client, token=token, slug=slug, variant_id=variant_id)
            slow_callbacks.lines.clear()
            for _ in range(ROUNDS):
                await shop_round(client, token=token, slug=slug, variant_id=variant_id)
                slow_in_rounds.update(slow_callbacks.take_culprits())
            # The throttle refusing requests (429) from Redis, on the loop too.
            settings.API_THROTTLE_RATES = {"anon": "1/minute", "user": "1/minute"}
            refused = []
            for _ in range(ROUNDS):
                answer = await request(client, "GET", "/api/async/catalog/products?page=1")
                refused.append(answer.status_code)
                slow_in_rounds.update(slow_callbacks.take_culprits())
            return refused

    assert in_debug_loop(main) == [429] * ROUNDS
    blocking = {name: rounds for name, rounds in slow_in_rounds.items() if rounds > ROUNDS // 2}
    assert blocking == {}, slow_callbacks.seen
