"""The open loop: requests leave when due whatever the answers do, latency counts from then."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import aiohttp
import pytest
from order_rate import (
    Outcome,
    _succeeded,
    due_offsets,
    get_sender,
    open_loop,
    order_sender,
    summarise_round,
)

from fashionistar_dev.processes import serving


def test_requests_are_due_at_fixed_times() -> None:
    assert due_offsets(rate=4, seconds=1) == [0.0, 0.25, 0.5, 0.75]
    assert due_offsets(rate=100, seconds=0.001) == [0.0]  # one request at least


def test_latency_counts_from_when_a_request_was_due_not_when_it_left() -> None:
    # The client fell behind: the third request left 0.3 s late, answered 0.01 s after.
    outcomes = [
        Outcome(due=0.0, sent=0.0, done=0.01, ok=True),
        Outcome(due=0.1, sent=0.1, done=0.11, ok=True),
        Outcome(due=0.2, sent=0.5, done=0.51, ok=False),
    ]
    figures = summarise_round(outcomes, rate=10)
    assert figures["requests"] == 3
    assert figures["p50_ms"] == pytest.approx(10)
    assert figures["p95_ms"] == pytest.approx(310)  # not 10: its wait before leaving counts
    assert figures["errors"] == 1
    assert figures["late_max_ms"] == pytest.approx(300)
    assert figures["rate_reached"] == pytest.approx(4)  # 2 gaps in 0.5 s


class Stalls(BaseHTTPRequestHandler):
    """Answers at once, except the fifth request, which waits 0.3 s."""

    protocol_version = "HTTP/1.1"
    count = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            Stalls.count += 1
            number = Stalls.count
        if number == 5:
            time.sleep(0.3)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Stay quiet."""


@pytest.fixture
def stalling_server() -> Iterator[str]:
    with serving(Stalls) as url:
        yield url


def test_a_stall_does_not_hold_back_the_requests_due_after_it(stalling_server: str) -> None:
    outcomes = asyncio.run(open_loop(stalling_server, get_sender("/"), rate=50, seconds=0.4))
    assert len(outcomes) == 20
    assert all(outcome.ok for outcome in outcomes)
    sent = sorted(outcome.sent - outcome.due for outcome in outcomes)
    assert sent[-1] < 0.1  # every request left on time, the stalled one's followers too
    slow = [outcome for outcome in outcomes if outcome.done - outcome.due >= 0.3]
    assert len(slow) == 1


def test_a_request_that_cannot_connect_is_an_error_not_a_crash() -> None:
    closed = "http://127.0.0.1:9"  # discard: nothing listens there
    outcomes = asyncio.run(open_loop(closed, get_sender("/"), rate=20, seconds=0.1))
    assert outcomes
    assert not any(outcome.ok for outcome in outcomes)


class RemembersKeys(BaseHTTPRequestHandler):
    """Answers an order as the shop does: 201, with ``Idempotent-Replayed`` for a key it saw."""

    protocol_version = "HTTP/1.1"
    keys: ClassVar[list[str]] = []
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers["Idempotency-Key"]
        with self.lock:
            replayed = key in self.keys
            self.keys.append(key)
        self.send_response(201)
        if replayed:
            self.send_header("Idempotent-Replayed", "true")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Stay quiet."""


@pytest.fixture
def orders_server() -> Iterator[str]:
    RemembersKeys.keys.clear()
    with serving(RemembersKeys) as url:
        yield url


def test_every_round_places_new_orders_with_keys_no_round_sent_before(orders_server: str) -> None:
    send = order_sender("async", token="t", variant_ids=[1, 2, 3])

    rounds = [asyncio.run(open_loop(orders_server, send, rate=50, seconds=0.2)) for _ in range(2)]

    assert all(outcome.ok for outcome in rounds[0] + rounds[1])
    assert len(RemembersKeys.keys) == 20
    assert len(set(RemembersKeys.keys)) == 20  # each round numbers its requests from 0


def test_a_replayed_order_counts_as_a_failed_request(orders_server: str) -> None:
    async def same_key(session: aiohttp.ClientSession, number: int) -> bool:
        answer = session.post("/api/async/orders", json={}, headers={"Idempotency-Key": "one"})
        return await _succeeded(answer, new_order=True)

    outcomes = asyncio.run(open_loop(orders_server, same_key, rate=20, seconds=0.2))

    assert len(outcomes) == 4
    assert sum(outcome.ok for outcome in outcomes) == 1  # the first placed it, three replayed
