"""Scenario ``gather``: ``asyncio.gather()`` against sequential awaits, in one request.

Measured in this process, inside a ``ThreadSensitiveContext`` as Django's ASGI handler opens one
per request, each case alternating sequential and gathered runs so that noise hits both, in
several rounds (each round's figure is the median of its runs):

- three tiny ORM queries of the catalog, and three ORM queries that each sleep in PostgreSQL;
- three HTTP calls to the fake partners (shipping quote, fraud check, gateway charges), which
  answer after the partners' latency, on a fresh client each time as checkout does.

Then the real endpoint that gathers (``GET /api/async/orders/{id}/checkout``: the order from the
ORM, then three partners and Redis at once), one request at a time, through the app server.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from common import Bench
from report import (
    CONDITIONAL,
    CONFIRMED,
    LOAD_HEADER,
    LOAD_NOTE,
    Target,
    Verdict,
    bars,
    fmt,
    load_rows,
    ratio,
    rounds_of,
    table,
    verdict_word,
)

NAME = "gather"
SLOW_QUERY_S = 0.02
"""How long each of the slow ORM queries sleeps in PostgreSQL."""
CLAIM = "asyncio.gather(): 3-5x performance improvement demonstrated"
TARGET = Target(3)
CONDITIONAL_SPEEDUP = 2
"""Network calls this much faster gathered in every round: the claim holds for them."""

Calls = list[Callable[[], Awaitable[Any]]]


def close_connections() -> None:
    """Close this thread's database connections (Django imported late: after its set-up)."""
    from django.db import connections

    connections.close_all()


MakeCalls = Callable[[httpx.AsyncClient], Calls]


async def _elapsed(make_calls: MakeCalls, *, gathered: bool) -> float:
    async with ThreadSensitiveContext(), httpx.AsyncClient(timeout=5) as client:
        calls = make_calls(client)
        started = time.perf_counter()
        if gathered:
            await asyncio.gather(*(call() for call in calls))
        else:
            for call in calls:
                await call()
        elapsed = time.perf_counter() - started
        # As at the end of a request: the context's thread gives its connection back to the pool.
        await sync_to_async(close_connections)()
        return elapsed


async def compare(make_calls: MakeCalls, *, repeats: int, rounds: int) -> dict[str, Any]:
    """Time the same calls awaited one after another and gathered, alternately, in rounds.

    Args:
        make_calls: Builds the calls afresh for each run, given an HTTP client.
        repeats: Runs of each per round.
        rounds: Rounds.

    Returns:
        The medians over the rounds of each round's median milliseconds (sequential and
        gathered) and of its speedup, and each round's figures under ``repeats``.
    """
    sequential, gathered = [], []
    for _ in range(rounds):
        one, many = [], []
        for _ in range(repeats):
            one.append(await _elapsed(make_calls, gathered=False))
            many.append(await _elapsed(make_calls, gathered=True))
        sequential.append(1000 * statistics.median(one))
        gathered.append(1000 * statistics.median(many))
    speedups = [ratio(one, many) for one, many in zip(sequential, gathered, strict=True)]
    return {
        "sequential_ms": statistics.median(sequential),
        "gathered_ms": statistics.median(gathered),
        "speedup": statistics.median(speedups),
        "repeats": {"sequential_ms": sequential, "gathered_ms": gathered, "speedup": speedups},
    }


def orm_tiny(client: httpx.AsyncClient) -> Calls:
    """Three small catalog queries, as a product page might run.

    Args:
        client: Unused.

    Returns:
        The calls.
    """
    from fashionistar.catalog.models import Category, Product, Variant

    return [
        lambda: Product.objects.filter(is_active=True).acount(),
        lambda: Category.objects.acount(),
        lambda: Variant.objects.order_by("pk").afirst(),
    ]


def orm_slow(client: httpx.AsyncClient) -> Calls:
    """Three ORM queries that each sleep ``SLOW_QUERY_S`` in PostgreSQL.

    Args:
        client: Unused.

    Returns:
        The calls.
    """
    from django.db.models import CharField, Func, Value

    from fashionistar.catalog.models import Category

    nap = Func(Value(SLOW_QUERY_S), function="pg_sleep", output_field=CharField())
    slow = Category.objects.annotate(nap=nap).values_list("nap", flat=True)
    return [slow.afirst, slow.afirst, slow.afirst]


def partner_calls(base_url: str) -> MakeCalls:
    """The three partner calls checkout makes.

    Args:
        base_url: The fake partners' URL.

    Returns:
        A builder of the calls.
    """

    def make(client: httpx.AsyncClient) -> Calls:
        async def last(call: Awaitable[httpx.Response]) -> None:
            (await call).raise_for_status()

        return [
            lambda: last(
                client.post(f"{base_url}/v1/shipping/quotes", json={"country": "DE", "items": 1})
            ),
            lambda: last(
                client.post(
                    f"{base_url}/v1/fraud/checks",
                    json={"amount": "89.00", "currency": "EUR", "customer": "1"},
                )
            ),
            lambda: last(client.get(f"{base_url}/v1/charges", params={"reference": "order-0"})),
        ]

    return make


def checkout_order() -> int:
    """Place a real order of one unit for the demo customer (checkout needs its lines).

    Returns:
        The order's id.
    """
    from fashionistar.accounts.models import User
    from fashionistar.catalog.models import Variant
    from fashionistar.orders.services import OrderItem, order_place
    from fashionistar_dev.demo import DEMO_USERNAME

    variant = Variant.objects.order_by("pk").first()
    assert variant is not None
    user = User.objects.get(username=DEMO_USERNAME)
    return order_place(user=user, items=[OrderItem(variant_id=variant.pk, quantity=1)]).pk


def run(bench: Bench) -> dict[str, Any]:
    """Measure every case.

    Args:
        bench: The harness.

    Returns:
        The figures.
    """
    repeats = bench.budget.repeats
    partners = bench.env["PAYMENT_GATEWAY_URL"]
    figures: dict[str, Any] = {"partner_latency_ms": bench.partner_latency_ms}
    cases = {
        "orm_tiny": orm_tiny,
        "orm_slow": orm_slow,
        "http": partner_calls(partners),
    }
    for name, make in cases.items():
        bench.progress.say(
            NAME, f"{name}: {bench.budget.rounds} rounds of {repeats} x sequential and gathered"
        )
        figures[name] = asyncio.run(compare(make, repeats=repeats, rounds=bench.budget.rounds))
    order_id = checkout_order()
    figures["checkout"] = bench.load(
        bench.server,
        f"/api/async/orders/{order_id}/checkout?country=DE",
        connections=1,
    )
    return figures


def verdicts(figures: dict[str, Any], *, quiet: bool) -> list[Verdict]:
    """Judge the seed's 3-5x on every round.

    Args:
        figures: What :func:`run` measured.
        quiet: Whether the machine was quiet.

    Returns:
        One verdict.
    """
    orm, http = figures["orm_slow"]["repeats"]["speedup"], figures["http"]["repeats"]["speedup"]
    measured = (
        f"three slow ORM queries x{fmt(figures['orm_slow']['speedup'], 2)} faster gathered, "
        f"three HTTP calls x{fmt(figures['http']['speedup'], 2)} (medians of the rounds)"
    )
    if all(TARGET.meets(o) and TARGET.meets(h) for o, h in zip(orm, http, strict=True)):
        return [Verdict(CLAIM, measured, CONFIRMED, "", NAME)]
    if all(speedup >= CONDITIONAL_SPEEDUP for speedup in http):
        condition = (
            "for independent network calls, up to their number; not for ORM queries, "
            "which Django runs one after another"
        )
        return [Verdict(CLAIM, measured, CONDITIONAL, condition, NAME)]
    best = [max(o, h) for o, h in zip(orm, http, strict=True)]
    word = verdict_word(
        met=[TARGET.meets(speedup) for speedup in best],
        clearly_missed=[TARGET.clearly_misses(speedup) for speedup in best],
        quiet=quiet,
    )
    return [Verdict(CLAIM, measured, word, "", NAME)]


def markdown(figures: dict[str, Any]) -> str:
    """Write the scenario's table.

    Args:
        figures: What :func:`run` measured.

    Returns:
        Markdown.
    """
    latency = figures["partner_latency_ms"]
    labels = {
        "orm_tiny": "3 tiny ORM queries (catalog)",
        "orm_slow": f"3 ORM queries sleeping {fmt(1000 * SLOW_QUERY_S, 0)} ms each",
        "http": f"3 HTTP calls to partners answering in {latency} ms",
    }

    def ranged(key: str, figure: str) -> str:
        rounds = figures[key]["repeats"][figure]
        return f"{fmt(figures[key][figure], 2)} ({fmt(min(rounds), 2)} to {fmt(max(rounds), 2)})"

    rows: list[list[object]] = [
        [
            label,
            ranged(key, "sequential_ms"),
            ranged(key, "gathered_ms"),
            f"x{ranged(key, 'speedup')}",
        ]
        for key, label in labels.items()
    ]
    checkout = figures["checkout"]
    versus = figures["http"]["sequential_ms"] / checkout["p50_ms"] if checkout["requests"] else None
    rows.append(
        [
            "checkout endpoint over HTTP, one request at a time (p50)",
            fmt(figures["http"]["sequential_ms"], 2) + " (the 3 calls, sequential)",
            fmt(checkout["p50_ms"], 2) + f" (p95 {fmt(checkout['p95_ms'], 2)})",
            f"x{fmt(versus, 2)}",
        ]
    )
    return (
        table(["case", "sequential ms", "gathered ms", "gathered is faster"], rows)
        + "\n\nMilliseconds: the median of the rounds (lowest to highest), each round's figure "
        "the median of its runs.\n\n**The checkout endpoint, one request at a time**\n\n"
        + table(LOAD_HEADER, load_rows({"checkout, Ninja async (ASGI)": checkout}))
        + f"\n\n{LOAD_NOTE}"
    )


def plot(figures: dict[str, Any], path: Path, *, note: str = "") -> None:
    """Draw sequential against gathered, per case.

    Args:
        figures: What :func:`run` measured.
        path: The PNG to write.
        note: Written under the title.
    """
    panels = {
        f"{title} (ms, median)": {
            "sequential": rounds_of(figures[key], "sequential_ms"),
            "gathered": rounds_of(figures[key], "gathered_ms"),
        }
        for key, title in (
            ("orm_tiny", "3 tiny ORM queries"),
            ("orm_slow", "3 slow ORM queries"),
            ("http", "3 HTTP calls"),
        )
    }
    bars(path, title="asyncio.gather() vs sequential awaits, one request", panels=panels, note=note)
