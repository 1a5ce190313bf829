"""Concurrency rounds through PgBouncer: overselling, duplicate charges, opposite lock orders.

Starts a throwaway native stack (PostgreSQL behind PgBouncer in transaction mode, Redis),
migrates it, and runs three kinds of rounds with real threads, each with its own database
connection through PgBouncer, released together by a barrier (``tests.concurrency``):

- **oversell**: ``--orders`` customers order one unit each of a variant that has ``--units``
  units. Anomalies: more orders placed than units (oversold), a negative stock, units neither
  on the shelf nor held by an order (lost), any other error.
- **charges**: ``--charges`` identical payment requests with one ``Idempotency-Key`` against a
  fake card gateway that answers after ``--gateway-ms``. Anomalies: more than one charge at
  the gateway or more than one payment row (duplicate charges), none at all, two different
  answers, a refusal other than "in flight" (409).
- **locks**: ``--pairs`` orders of the same two variants, half asking for them in one order and
  half in the other. Anomalies: a deadlock (PostgreSQL aborts one transaction), an order that
  failed, units lost.

Prints the rounds, the orders and charges made, and every anomaly (the target is 0); exits 1
if any anomaly was found. ``--json FILE`` writes the same figures; ``--markdown FILE`` writes
them as the Reliability page's table, its first line saying when and on what machine.

Usage: ``uv run python benchmarks/oversell_rounds.py [--rounds 50] [--orders 50] [--units 5]``;
for the page: ``... oversell_rounds.py --markdown docs/assets/oversell-rounds.md.txt``
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import Watch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.concurrency, tests.factories


def is_deadlock(error: BaseException) -> bool:
    """Whether PostgreSQL aborted the transaction to break a deadlock."""
    from psycopg.errors import DeadlockDetected

    return isinstance(error, DeadlockDetected) or isinstance(error.__cause__, DeadlockDetected)


def guarded(work: Callable[[int], object]) -> Callable[[int], object]:
    """Return the exception a worker raised instead of letting it end the round."""

    def run(index: int) -> object:
        try:
            return work(index)
        except Exception as error:  # noqa: BLE001 - every failure is counted as an anomaly
            return error

    return run


def oversell_round(orders: int, units: int) -> Counter[str]:
    """``orders`` customers race for ``units`` units of one variant."""
    from tests.concurrency import run_concurrently
    from tests.factories import make_product, make_user, variant_of

    from fashionistar.inventory.models import Reservation, Stock
    from fashionistar.inventory.services import OutOfStock
    from fashionistar.orders.models import Order
    from fashionistar.orders.services import OrderItem, order_place

    variant = variant_of(make_product(stock=units))
    users = [make_user() for _ in range(orders)]
    item = [OrderItem(variant_id=variant.pk, quantity=1)]
    results = run_concurrently(orders, guarded(lambda i: order_place(user=users[i], items=item)))
    placed = sum(isinstance(r, Order) for r in results)
    left = Stock.objects.get(variant=variant).quantity
    held = sum(r.quantity for r in Reservation.objects.filter(variant=variant))
    return Counter(
        orders=orders,
        placed=placed,
        refused=sum(isinstance(r, OutOfStock) for r in results),
        oversold=max(0, placed - units),
        negative_stock=int(left < 0),
        lost_units=abs(units - left - held),
        errors=sum(isinstance(r, Exception) and not isinstance(r, OutOfStock) for r in results),
    )


def charges_round(charges: int, gateway_ms: int) -> Counter[str]:
    """``charges`` identical requests with one idempotency key for one order."""
    import httpx
    from django.conf import settings
    from tests.concurrency import run_concurrently
    from tests.factories import make_product, make_user, variant_of

    from fashionistar.orders.services import OrderItem, order_place
    from fashionistar.payments.models import Payment
    from fashionistar.payments.services import (
        ChargeOutcome,
        IdempotencyKeyInFlight,
        payment_charge,
    )
    from fashionistar_dev.partners import serve_in_thread

    user = make_user()
    variant = variant_of(make_product(stock=1))
    order = order_place(user=user, items=[OrderItem(variant_id=variant.pk, quantity=1)])
    with serve_in_thread(latency_ms=gateway_ms) as gateway:
        settings.PAYMENT_GATEWAY_URL = gateway.url
        results = run_concurrently(
            charges,
            guarded(
                lambda _: payment_charge(
                    user=user,
                    order_id=order.pk,
                    idempotency_key="one-key",
                    payload={"card_token": "tok_visa"},
                )
            ),
        )
        made = httpx.get(
            f"{gateway.url}/v1/charges", params={"reference": f"order-{order.pk}"}, timeout=5
        ).json()["count"]
    # A replay's body comes back from a jsonb column, which orders keys its own way: compare
    # the answers, not the order of their keys.
    answers = {json.dumps(r.body, sort_keys=True) for r in results if isinstance(r, ChargeOutcome)}
    payments = Payment.objects.filter(order=order).count()
    return Counter(
        requests=charges,
        charged=made,
        replayed=sum(isinstance(r, ChargeOutcome) and r.replayed for r in results),
        in_flight=sum(isinstance(r, IdempotencyKeyInFlight) for r in results),
        duplicate_charges=max(0, made - 1) + max(0, payments - 1),
        no_charge=int(made == 0),
        different_answers=max(0, len(answers) - 1),
        errors=sum(
            isinstance(r, Exception) and not isinstance(r, IdempotencyKeyInFlight) for r in results
        ),
    )


def locks_round(pairs: int) -> Counter[str]:
    """``pairs`` orders of two variants, asked for in opposite orders."""
    from tests.concurrency import run_concurrently
    from tests.factories import make_product, make_user, variant_of

    from fashionistar.inventory.models import Stock
    from fashionistar.orders.models import Order
    from fashionistar.orders.services import OrderItem, order_place

    first, second = (variant_of(make_product(stock=pairs)) for _ in range(2))
    users = [make_user() for _ in range(pairs)]

    def place(index: int) -> object:
        pair = (first, second) if index % 2 else (second, first)
        items = [OrderItem(variant_id=v.pk, quantity=1) for v in pair]
        return order_place(user=users[index], items=items)

    results = run_concurrently(pairs, guarded(place))
    placed = sum(isinstance(r, Order) for r in results)
    left = [Stock.objects.get(variant=v).quantity for v in (first, second)]
    return Counter(
        orders=pairs,
        placed=placed,
        deadlocks=sum(isinstance(r, Exception) and is_deadlock(r) for r in results),
        failed=pairs - placed,
        lost_units=sum(abs(pairs - placed - units) for units in left),
    )


ANOMALIES = {
    "oversell": ("oversold", "negative_stock", "lost_units", "errors"),
    "charges": ("duplicate_charges", "no_charge", "different_answers", "errors"),
    "locks": ("deadlocks", "failed", "lost_units"),
}


def happened(kind: str, totals: Counter[str], rounds: int) -> str:
    """Say in words what the rounds of one kind did."""
    if kind == "oversell":
        return (
            f"{totals['orders']:,} orders: {totals['placed']:,} placed "
            f"({totals['placed'] / rounds:g} per round), "
            f"{totals['refused']:,} refused as out of stock"
        )
    if kind == "charges":
        return (
            f"{totals['requests']:,} requests: {totals['charged']:,} charges made "
            f"({totals['charged'] / rounds:g} per round), {totals['replayed']:,} answers replayed, "
            f'{totals["in_flight"]:,} refused as "in flight" (409)'
        )
    return f"{totals['orders']:,} orders: {totals['placed']:,} placed"


def markdown(*, heading: str, figures: dict[str, Any], args: argparse.Namespace) -> str:
    """Return the page's table of the rounds, under the line that says when it was taken."""
    lines = [
        heading,
        "",
        "| kind | rounds (s) | what happened | anomalies |",
        "|---|---|---|---|",
    ]
    for kind, names in ANOMALIES.items():
        totals = Counter(figures[kind])
        anomalies = ", ".join(f"{name.replace('_', ' ')} {totals[name]}" for name in names)
        lines.append(
            f"| {kind} | {args.rounds} ({figures[kind]['seconds']}) "
            f"| {happened(kind, totals, args.rounds)} | {anomalies} |"
        )
    lines += [
        "",
        f"`anomalies in total: {figures['anomalies']}`. Each round: {args.orders} customers for "
        f"{args.units} units; {args.charges} payment requests with one key, the gateway answering "
        f"after {args.gateway_ms} ms; {args.pairs} orders of two variants in opposite orders. "
        f"Written by `python benchmarks/oversell_rounds.py {' '.join(sys.argv[1:])}`.",
        "",
    ]
    return "\n".join(lines)


def setup_django(environ: dict[str, str]) -> None:
    """Point Django at the stack, migrate, and use a fast password hash (many users)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    os.environ.update(environ)
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.project.settings")
    django.setup()
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("migrate", verbosity=0, interactive=False)


def main() -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--units", type=int, default=5)
    parser.add_argument("--charges", type=int, default=20)
    parser.add_argument("--gateway-ms", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path, help="write the page's table here")
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="measure at once, without waiting for a quiet machine",
    )
    args = parser.parse_args()
    watch = Watch(wait=not args.no_wait)

    from fashionistar_dev.stack import running_stack

    with running_stack(environ={"FASHIONISTAR_STACK": "native"}) as stack:
        setup_django(stack.urls.environ())
        kinds: dict[str, Callable[[], Counter[str]]] = {
            "oversell": lambda: oversell_round(args.orders, args.units),
            "charges": lambda: charges_round(args.charges, args.gateway_ms),
            "locks": lambda: locks_round(args.pairs),
        }
        figures: dict[str, Any] = {"rounds": args.rounds, "database": stack.urls.database_url}
        for kind, run_round in kinds.items():
            started = time.perf_counter()
            totals: Counter[str] = Counter()
            for _ in range(args.rounds):
                totals.update(run_round())
            seconds = time.perf_counter() - started
            anomalies = {name: totals[name] for name in ANOMALIES[kind]}
            figures[kind] = {**totals, "seconds": round(seconds, 1)}
            print(
                f"{kind}: {args.rounds} rounds in {seconds:.1f} s, "
                + ", ".join(f"{k} {v}" for k, v in totals.items() if k not in anomalies)
                + " | anomalies: "
                + ", ".join(f"{k} {v}" for k, v in anomalies.items())
            )
    total = sum(figures[kind][name] for kind, names in ANOMALIES.items() for name in names)
    figures["anomalies"] = total
    print(f"anomalies in total: {total}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown(heading=watch.taken_on(), figures=figures, args=args))
    return 1 if total else 0


if __name__ == "__main__":
    raise SystemExit(main())
