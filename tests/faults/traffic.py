"""Customers placing and reading orders through both APIs while a fault is injected.

Each customer is a thread with its own user, its own database connection and its own client:
Django's test ``Client`` (WSGI) for the DRF API, ``AsyncClient`` (ASGI, driven by
``async_to_sync``) for the Ninja API, alternately. A customer orders one unit, then reads its
order list, again and again, and every answer is recorded with its time and duration. Each order
carries its own ``Idempotency-Key``, and an order answered 503 is sent again with it until it is
answered otherwise, as a careful client would: the first request may have committed. The
clients do not re-raise the server's exceptions: what is recorded is what a user would get.

:func:`fault_run` runs customers, injects one fault, and summarises: the answers by status and
code, the slowest request, the time from the fault until the first order placed after it
(and after the server was back), and the orders: every ``201`` must be in the database once,
every order in the database must have been answered ``201`` (a lost answer is replayed to the
retry), and the stock must account for every order the database holds.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from django.db import close_old_connections, connection
from django.test import AsyncClient, Client

from fashionistar.accounts.models import User
from fashionistar.inventory.models import Stock
from fashionistar.orders.models import Order
from tests.api_support import ASYNC, SYNC, token_for
from tests.factories import make_product, make_user, variant_of

CUSTOMERS = 4
STOCK = 10_000
WARM_UP_S = 0.4
AFTER_S = 0.5
"""Customers go on this long after the first order placed once the server is back."""
GIVE_UP_S = 60.0


@dataclass(frozen=True)
class Answer:
    """One request, as the customer saw it."""

    api: str
    method: str
    started: float
    seconds: float
    status: int
    body: Any
    replayed: bool = False


def send(
    api: str, method: str, path: str, *, token: str, body: Any = None, key: str | None = None
) -> Answer:
    """Send one request to an API the way a user would, and record the answer.

    Args:
        api: ``SYNC`` or ``ASYNC``.
        method: ``get`` or ``post``.
        path: Under the API's prefix.
        token: The user's API token.
        body: A JSON body for a ``post``.
        key: Its ``Idempotency-Key``.

    Returns:
        The answer; a server error is an answer (``500``), not an exception.
    """
    headers = {"Authorization": f"Token {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    kwargs: dict[str, Any] = {"headers": headers}
    if method == "post":
        kwargs.update(data=json.dumps(body), content_type="application/json")
    started = time.monotonic()
    if api == ASYNC:
        client = AsyncClient(raise_request_exception=False)
        response = async_to_sync(getattr(client, method))(api + path, **kwargs)
    else:
        response = getattr(Client(raise_request_exception=False), method)(api + path, **kwargs)
    seconds = time.monotonic() - started
    is_json = "json" in response.get("Content-Type", "")
    parsed = json.loads(response.content) if response.content and is_json else None
    replayed = response.get("Idempotent-Replayed") == "true"
    return Answer(api, method, started, seconds, response.status_code, parsed, replayed)


@dataclass
class Customers:
    """Threads that order and read through both APIs until told to stop."""

    variant_id: int
    users: list[User]
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def create(cls, *, count: int = CUSTOMERS, stock: int = STOCK) -> Customers:
        """Make a product with ``stock`` units and ``count`` customers with API tokens.

        Args:
            count: How many customers (threads).
            stock: Units of the one variant they order.

        Returns:
            The customers, not started.
        """
        variant = variant_of(make_product(price="10.00", stock=stock))
        users = [make_user() for _ in range(count)]
        for user in users:
            token_for(user)
        return cls(variant_id=variant.pk, users=users)

    def _record(self, answer: Answer) -> Answer:
        with self._lock:
            self.answers.append(answer)
        return answer

    def _run(self, user: User, first_api: int) -> None:
        token = token_for(user)
        order = {"items": [{"variant_id": self.variant_id, "quantity": 1}]}
        apis = (SYNC, ASYNC)
        turn = first_api
        try:
            while not self.stop.is_set():
                api = apis[turn % 2]
                turn += 1
                key = f"order-{user.pk}-{turn}"
                give_up = time.monotonic() + GIVE_UP_S
                while True:  # a 503 may come after the commit: ask again with the same key
                    placed = send(api, "post", "orders", token=token, body=order, key=key)
                    if self._record(placed).status != 503 or time.monotonic() > give_up:
                        break
                    close_old_connections()
                self._record(send(api, "get", "orders", token=token))
                close_old_connections()
        finally:
            connection.close()

    def start(self) -> None:
        """Start one thread per customer, half of them beginning with each API."""
        for index, user in enumerate(self.users):
            thread = threading.Thread(target=self._run, args=(user, index), daemon=True)
            self._threads.append(thread)
            thread.start()

    def join(self) -> None:
        """Stop the customers and wait for their last requests."""
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=GIVE_UP_S)

    def first_order_after(self, moment: float) -> float | None:
        """Return when the first order answered ``201`` after ``moment`` was answered.

        Args:
            moment: A ``time.monotonic()`` value.

        Returns:
            The ``time.monotonic()`` of that answer, or ``None`` yet.
        """
        with self._lock:
            ends = [a.started + a.seconds for a in self.answers if _placed(a)]
            return min((end for end in ends if end >= moment), default=None)


@dataclass(frozen=True)
class FaultReport:
    """What customers saw during one fault, and what the database holds after it."""

    answers: Counter[str]
    slowest_s: float
    downtime_s: float
    recovery_s: float
    placed: int
    in_database: int
    unknown_outcome: int
    replayed: int
    anomalies: list[str]
    unexpected: dict[str, int]

    def line(self, name: str) -> str:
        """Format the report as one line for a test's or a benchmark's output.

        Args:
            name: The fault.

        Returns:
            The line.
        """
        answers = ", ".join(f"{key}: {count}" for key, count in sorted(self.answers.items()))
        return (
            f"{name}: orders placed again {self.downtime_s:.2f} s after the fault, "
            f"{self.recovery_s:.2f} s after the server was back; slowest request "
            f"{self.slowest_s:.2f} s; answers {answers}; {self.placed} orders placed (201), "
            f"{self.in_database} in the database, {self.unknown_outcome} 503s on an order, "
            f"{self.replayed} orders placed by a request whose answer was lost (replayed to "
            f"its retry); "
            f"anomalies: {len(self.anomalies) + sum(self.unexpected.values())}"
        )


def _placed(answer: Answer) -> bool:
    return answer.method == "post" and answer.status == 201


def _kind(answer: Answer) -> str:
    code = answer.body.get("code") if isinstance(answer.body, dict) else None
    return f"{answer.status} {code}" if answer.status >= 400 else str(answer.status)


def check_orders(customers: Customers, answers: list[Answer]) -> tuple[int, int, list[str]]:
    """Compare the orders answered ``201`` with the database, and the stock with the orders.

    Args:
        customers: The customers, after they stopped.
        answers: Everything they were answered.

    Returns:
        ``(orders answered 201, orders in the database, anomalies)``.
    """
    anomalies: list[str] = []
    placed = [a.body["id"] for a in answers if _placed(a)]
    in_db = list(Order.objects.filter(user__in=customers.users).values_list("pk", flat=True))
    if len(set(placed)) != len(placed):
        anomalies.append("an order id was answered twice")
    if missing := set(placed) - set(in_db):
        anomalies.append(f"orders answered 201 but not in the database: {sorted(missing)}")
    if unanswered := set(in_db) - set(placed):
        anomalies.append(f"{len(unanswered)} orders nobody was answered 201 for")
    stock = Stock.objects.get(variant_id=customers.variant_id).quantity
    if stock + len(in_db) != STOCK:
        anomalies.append(f"stock {stock} + {len(in_db)} orders != {STOCK} units")
    return len(placed), len(in_db), anomalies


def fault_run(fault: Callable[[], float], *, allowed: set[str]) -> FaultReport:
    """Run customers, inject the fault, wait for orders to go through again, and check.

    Args:
        fault: Injects the fault, ends it, and returns when the server is back
            (a ``time.monotonic()`` value).
        allowed: The answers (``"201"``, ``"503 database_unavailable"``, ...) users may get.

    Returns:
        The report: ``anomalies`` lists every order lost or duplicated and stock unaccounted
        for, ``unexpected`` counts the answers not allowed.
    """
    customers = Customers.create()
    customers.start()
    try:
        time.sleep(WARM_UP_S)
        fault_at = time.monotonic()
        back_at = fault()
        deadline = time.monotonic() + GIVE_UP_S
        while (first := customers.first_order_after(back_at)) is None:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(AFTER_S)
    finally:
        customers.join()
    connection.close()  # the fault broke this thread's connection too
    answers = customers.answers
    placed, in_db, anomalies = check_orders(customers, answers)
    kinds = Counter(_kind(a) for a in answers)
    unexpected = {kind: count for kind, count in kinds.items() if kind not in allowed}
    slowest = max(a.seconds for a in answers)
    if first is None:
        anomalies.append(f"no order placed within {GIVE_UP_S:.0f} s of the server being back")
        done = time.monotonic()
    else:
        done = first
    return FaultReport(
        answers=kinds,
        slowest_s=slowest,
        downtime_s=done - fault_at,
        recovery_s=done - back_at,
        placed=placed,
        in_database=in_db,
        unknown_outcome=sum(1 for a in answers if a.method == "post" and a.status == 503),
        replayed=sum(1 for a in answers if _placed(a) and a.replayed),
        anomalies=anomalies,
        unexpected=unexpected,
    )
