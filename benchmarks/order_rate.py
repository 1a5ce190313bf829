"""Scenario ``orders``: placing orders at a constant rate (an open loop), beside bare Django.

wrk keeps its connections busy, each sending its next request when the last one answered: a
slow answer holds back the requests behind it, which are never sent while it lasts, so their
wait is never measured (coordinated omission). Here each request is due at a fixed time,
``rate`` a second, whatever the answers do, and its latency runs from the time it was due: a
stall of the server counts for every request that should have left during it.

- the shop: ``POST /api/{async,sync}/orders`` (one unit of each demo variant in turn), each with a
  new ``Idempotency-Key``, as the demo customer, as the deploy files serve them: Ninja's through
  the harness's ASGI server, DRF's through a WSGI server;
- bare Django: ``GET /bare/products`` at the same rate under the harness's (ASGI) server; both
  order rows are compared with it.

Each for ``open_loop_seconds`` in ``rounds`` rounds, after one unmeasured round. Part of
``run_all.py``; alone::

    uv run python benchmarks/order_rate.py [--rate 100] [--seconds 10] [--quick] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import resource
import secrets
import statistics
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
from common import (
    FULL,
    QUICK,
    AppServer,
    Bench,
    Progress,
    Watch,
    bench_stack,
    cpu_seconds,
    percentile,
    running_bench,
)
from report import (
    NOT_APPLICABLE,
    Target,
    Verdict,
    bars,
    fmt,
    rounds_of,
    table,
    verdict_lines,
    verdict_word,
)

NAME = "orders"
RATE = 100.0
"""Requests a second that the project's target is set at."""
TARGET = Target(50, at_least=False)
"""p95 in milliseconds."""
CLAIM = "project target: order placement p95 < 50 ms at 100 req/s"
NINJA = "order placement, Ninja async (ASGI)"
DRF = "order placement, DRF sync (WSGI)"
BARE = "bare Django list (ASGI), GET"
TIMEOUT_S = 10.0

Send = Callable[[aiohttp.ClientSession, int], Awaitable[bool]]
"""Sends request number ``n`` on the session; says whether it was answered with a 2xx status."""


def due_offsets(*, rate: float, seconds: float) -> list[float]:
    """When each request of an open loop is due, from its start.

    Args:
        rate: Requests a second.
        seconds: How long.

    Returns:
        ``n / rate`` for each of the ``rate * seconds`` requests (one at least).
    """
    return [number / rate for number in range(max(1, round(rate * seconds)))]


@dataclass(frozen=True)
class Outcome:
    """One request of an open loop, in seconds of the event loop's clock.

    Attributes:
        due: When it was due to leave.
        sent: When it left (late when the client could not keep up).
        done: When its answer (or its failure) came.
        ok: Whether it was answered with a 2xx status.
    """

    due: float
    sent: float
    done: float
    ok: bool


def summarise_round(outcomes: list[Outcome], *, rate: float) -> dict[str, Any]:
    """Turn one round's requests into its figures; latency runs from each request's due time.

    Args:
        outcomes: Every request of the round (not empty), failed ones included: a request that
            failed after waiting was slow too.
        rate: The rate asked.

    Returns:
        Requests, the rate asked and reached, p50/p95/p99 in ms from the due time, errors, and
        the latest a request left after its due time (how well the client kept up).
    """
    latencies = [outcome.done - outcome.due for outcome in outcomes]
    sent = sorted(outcome.sent for outcome in outcomes)
    span = sent[-1] - sent[0]
    return {
        "requests": len(outcomes),
        "rate_asked": rate,
        "rate_reached": (len(sent) - 1) / span if span > 0 else float(len(sent)),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "errors": sum(not outcome.ok for outcome in outcomes),
        "late_max_ms": 1000 * max(outcome.sent - outcome.due for outcome in outcomes),
    }


async def open_loop(url: str, send: Send, *, rate: float, seconds: float) -> list[Outcome]:
    """Send requests at fixed times, never waiting for an answer before the next one is due.

    Args:
        url: The server's base URL.
        send: Sends request number ``n`` with the client.
        rate: Requests a second.
        seconds: How long.

    Returns:
        Every request's outcome.
    """
    loop = asyncio.get_running_loop()
    # aiohttp parses HTTP in C: the client, which shares the cores with the server, costs it
    # a fraction of what a pure-Python client would. No limit on connections: a request never
    # waits for another's answer before it leaves.
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

        async def one(number: int, due: float) -> Outcome:
            sent = loop.time()
            try:
                ok = await send(session, number)
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            return Outcome(due, sent, loop.time(), ok)

        start = loop.time() + 0.05
        pending = []
        for number, offset in enumerate(due_offsets(rate=rate, seconds=seconds)):
            await asyncio.sleep(max(0.0, start + offset - loop.time()))
            pending.append(asyncio.create_task(one(number, start + offset)))
        return list(await asyncio.gather(*pending))


def order_sender(flavour: str, *, token: str, variant_ids: list[int]) -> Send:
    """Place an order of one unit of each variant in turn, with a new ``Idempotency-Key`` each.

    The keys are numbered over the sender's whole life, not by the request's number, which
    starts from 0 again in each round: a key sent before would replay the order it placed (the
    shop answers 201 with ``Idempotent-Replayed: true``) instead of placing one. A replay counts
    as a failed request.

    Args:
        flavour: ``async`` (Ninja) or ``sync`` (DRF).
        token: The customer's API token.
        variant_ids: The variants to pick from.

    Returns:
        The sender.
    """
    tag = secrets.token_hex(4)
    keys = itertools.count()

    async def send(session: aiohttp.ClientSession, number: int) -> bool:
        answer = session.post(
            f"/api/{flavour}/orders",
            json={"items": [{"variant_id": variant_ids[number % len(variant_ids)], "quantity": 1}]},
            headers={
                "Authorization": f"Token {token}",
                "Idempotency-Key": f"rate-{tag}-{next(keys)}",
            },
        )
        return await _succeeded(answer, new_order=True)

    return send


def get_sender(path: str) -> Send:
    """GET one path.

    Args:
        path: The path.

    Returns:
        The sender.
    """

    async def send(session: aiohttp.ClientSession, number: int) -> bool:
        return await _succeeded(session.get(path))

    return send


async def _succeeded(
    request: AbstractAsyncContextManager[aiohttp.ClientResponse], *, new_order: bool = False
) -> bool:
    async with request as response:
        await response.read()  # the whole answer, as a client would; frees the connection
        replayed = new_order and response.headers.get("Idempotent-Replayed") == "true"
        return 200 <= response.status < 300 and not replayed


def measure(
    server: AppServer, send: Send, *, rate: float, seconds: float, rounds: int
) -> dict[str, Any]:
    """Run one unmeasured round, then ``rounds`` measured ones; summarise them.

    Args:
        server: The server.
        send: What to send.
        rate: Requests a second.
        seconds: Each round's length.
        rounds: Measured rounds.

    Returns:
        The medians of the rounds' figures, each round's under ``repeats``, the requests and
        errors of all rounds, and the CPU seconds of this client and of the server per round.
    """
    asyncio.run(open_loop(server.url, send, rate=rate, seconds=min(seconds, 2)))
    each = []
    for _ in range(rounds):
        client = resource.getrusage(resource.RUSAGE_SELF)
        workers = server.worker_pids()
        server_cpu = cpu_seconds(workers)
        outcomes = asyncio.run(open_loop(server.url, send, rate=rate, seconds=seconds))
        after = resource.getrusage(resource.RUSAGE_SELF)
        figures = summarise_round(outcomes, rate=rate)
        figures["client_cpu_s"] = (after.ru_utime + after.ru_stime) - (
            client.ru_utime + client.ru_stime
        )
        figures["server_cpu_s"] = cpu_seconds(workers) - server_cpu
        each.append(figures)
    keys = ("rate_reached", "p50_ms", "p95_ms", "p99_ms", "late_max_ms", "client_cpu_s")
    cell: dict[str, Any] = {key: statistics.median(one[key] for one in each) for key in keys}
    cell["server_cpu_s"] = statistics.median(one["server_cpu_s"] for one in each)
    cell["rate_asked"] = rate
    cell["requests"] = sum(one["requests"] for one in each)
    cell["errors"] = sum(one["errors"] for one in each)
    cell["repeats"] = {key: [one[key] for one in each] for key in ("p95_ms", "errors")}
    return cell


def run(bench: Bench, *, rate: float = RATE) -> dict[str, Any]:
    """Place orders through both APIs at the rate, and list bare Django's products at it.

    Args:
        bench: The harness.
        rate: Requests a second.

    Returns:
        ``{"rate", "seconds", "rounds", "runs": {label: cell}}``.
    """
    seconds, rounds = bench.budget.open_loop_seconds, bench.budget.rounds
    bench.progress.say(NAME, f"{rounds} rounds of {seconds:g} s at {rate:g} requests/s each")
    bare = bench.bare_server(bench.server.interface)
    runs = {}

    def place(label: str, server: AppServer, send: Send) -> None:
        runs[label] = measure(server, send, rate=rate, seconds=seconds, rounds=rounds)
        bench.progress.say(
            NAME,
            f"{label}: p95 {fmt(runs[label]['p95_ms'])} ms, errors {runs[label]['errors']}",
        )

    place(BARE, bare, get_sender("/bare/products"))
    place(
        NINJA, bench.server, order_sender("async", token=bench.token, variant_ids=bench.variant_ids)
    )
    # As the deploy files serve them: DRF under WSGI.
    with bench.server_for(interface="wsgi") as wsgi:
        place(DRF, wsgi, order_sender("sync", token=bench.token, variant_ids=bench.variant_ids))
    wsgi.cleanup()
    return {"rate": rate, "seconds": seconds, "rounds": rounds, "runs": runs}


def verdicts(figures: dict[str, Any], *, quiet: bool) -> list[Verdict]:
    """Judge the target on every round of both APIs: a round with errors does not meet it.

    Args:
        figures: What :func:`run` measured.
        quiet: Whether the machine was quiet.

    Returns:
        One verdict.
    """
    runs = {label: figures["runs"][label] for label in (NINJA, DRF)}
    measured = "; ".join(
        f"{label.removeprefix('order placement, ')}: p95 of each round "
        + ", ".join(fmt(p95) for p95 in run["repeats"]["p95_ms"])
        + f" ms, {run['errors']} errors"
        for label, run in runs.items()
    )
    if figures["rate"] != RATE:
        condition = f"measured at {fmt(figures['rate'], 0)} requests/s"
        return [Verdict(CLAIM, measured, NOT_APPLICABLE, condition, NAME)]
    rounds = [
        (p95, errors)
        for run in runs.values()
        for p95, errors in zip(run["repeats"]["p95_ms"], run["repeats"]["errors"], strict=True)
    ]
    word = verdict_word(
        met=[TARGET.meets(p95) and not errors for p95, errors in rounds],
        clearly_missed=[TARGET.clearly_misses(p95) for p95, _ in rounds],
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
    bare = figures["runs"][BARE]["p95_ms"]
    rows = []
    for label, run in figures["runs"].items():
        p95s = run["repeats"]["p95_ms"]
        rows.append(
            [
                label,
                f"{fmt(run['rate_asked'], 0)} / {fmt(run['rate_reached'], 1)}",
                fmt(run["p50_ms"]),
                f"{fmt(run['p95_ms'])} ({fmt(min(p95s))} to {fmt(max(p95s))})",
                fmt(run["p99_ms"]),
                f"x{fmt(run['p95_ms'] / bare if bare else None, 2)}",
                f"{run['errors']} of {run['requests']:,}",
                fmt(run["late_max_ms"]),
                f"{fmt(run['client_cpu_s'])} / {fmt(run['server_cpu_s'])}",
            ]
        )
    header = [
        "run",
        "requests/s asked / reached",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "p95 ÷ bare list",
        "errors",
        "latest send ms",
        "CPU s: client / server",
    ]
    return (
        table(header, rows)
        + f"\n\n{figures['rounds']} rounds of {figures['seconds']:g} s per run, after one "
        "unmeasured round. Latency from the time each request was due to leave, not from when "
        "it left; p95: the median of the rounds (lowest to highest), the other figures the "
        "median of the rounds. *p95 ÷ bare list*: over bare Django's list's at the same rate "
        "under the ASGI server (for both rows). *Latest send*: how late the client sent its "
        "latest request (it shares the cores with the server)."
    )


def plot(figures: dict[str, Any], path: Path, *, note: str = "") -> None:
    """Draw p50 and p95 of each run against the target.

    Args:
        figures: What :func:`run` measured.
        path: The PNG to write.
        note: Written under the title.
    """
    short = {BARE: "bare list", NINJA: "Ninja orders", DRF: "DRF orders"}
    runs = figures["runs"]
    panels = {
        "p50 ms": {short[k]: v["p50_ms"] for k, v in runs.items()},
        "p95 ms": {short[k]: rounds_of(v, "p95_ms") for k, v in runs.items()},
    }
    bars(
        path,
        title=f"Orders at {fmt(figures['rate'], 0)} requests/s, open loop (dashed: the target)",
        panels=panels,
        targets={"p95 ms": TARGET.value},
        note=note,
    )


def main(argv: list[str] | None = None) -> int:
    """Serve the shop on a stack of its own and measure it; print or write the table.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=RATE)
    parser.add_argument("--seconds", type=float, help="each round's length")
    parser.add_argument("--quick", action="store_true", help="short rounds, to try the script")
    parser.add_argument("--partner-latency-ms", type=int, default=100)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else FULL
    if args.seconds:
        budget = replace(budget, open_loop_seconds=args.seconds)
    progress = Progress()
    watch = Watch(wait=not args.quick)
    with (
        bench_stack(partner_latency_ms=args.partner_latency_ms, progress=progress) as env,
        running_bench(
            env, budget=budget, partner_latency_ms=args.partner_latency_ms, progress=progress
        ) as bench,
    ):
        figures = run(bench, rate=args.rate)
    text = "\n\n".join(
        [
            watch.taken_on(),
            markdown(figures),
            verdict_lines(verdicts(figures, quiet=watch.quiet)),
        ]
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
