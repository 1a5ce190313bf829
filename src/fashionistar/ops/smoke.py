"""Smoke test of a running instance: ``python -m fashionistar.ops.smoke --base-url URL``.

Points at any running shop (the served demo, a deployment) over HTTP and checks, in order:

1. **health**: ``/healthz`` and ``/readyz`` answer 200 (database, cache, Redis);
2. **catalog**: the product list answers and has a variant in stock;
3. **login**: the smoke user gets an API token;
4. **order**: an order for one unit is placed (201), then cancelled, so the unit goes back to
   stock: a smoke test leaves the shop as it found it;
5. **task**: the staff-only echo task (:mod:`fashionistar.ops.apis`) goes through the queue, a
   worker runs it, and its value comes back.

A check that needs an earlier one (an order needs the login) is skipped when that one failed.
The whole run has a deadline (``--timeout``, 60 s). It prints one line per check and exits 0 when
every check passed, 1 otherwise, 2 on a usage error.

The user (``--username``, default ``$SMOKE_USERNAME``) must be staff for the task check; its
password comes from ``$SMOKE_PASSWORD`` only, never the command line (``ps`` would show it).
Create one with ``DJANGO_SUPERUSER_PASSWORD=... manage.py createsuperuser --noinput --username
smoke --email smoke@example.com``.

``--header "X-Forwarded-Proto: https"`` (repeatable) adds a header to every request: to test an
instance directly, behind the proxy that ends TLS, as that proxy would call it.

The module needs no Django settings: it is an HTTP client, runnable from any machine.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 10.0
TASK_POLL_S = 0.2
SYNC_API = "/api/sync"


class SmokeFailure(Exception):
    """A check failed; the message says what was asked and what came back."""


@dataclass
class SmokeRun:
    """One run's client, credentials, deadline and what the checks found so far."""

    client: httpx.Client
    username: str
    password: str
    deadline: float
    token: str = ""
    variant: dict[str, Any] = field(default_factory=dict)

    def call(self, method: str, path: str, *, expect: int, **kwargs: Any) -> Any:
        """Send a request (with the token once there is one) and check its status.

        Args:
            method: ``GET`` or ``POST``.
            path: The path.
            expect: The status the check needs.
            **kwargs: httpx's arguments (``json``, ``params``).

        Returns:
            The JSON body.

        Raises:
            SmokeFailure: Another status, or no answer at all.
        """
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        try:
            response = self.client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise SmokeFailure(f"{method} {path}: no answer ({error!r})") from error
        if response.status_code != expect:
            raise SmokeFailure(
                f"{method} {path} answered {response.status_code}, not {expect}: "
                f"{response.text[:300]}"
            )
        try:
            return response.json()
        except ValueError as error:
            raise SmokeFailure(
                f"{method} {path} answered no JSON: {response.text[:300]}"
            ) from error


def check_health(run: SmokeRun) -> str:
    """Liveness and readiness.

    Args:
        run: The run.

    Returns:
        What the instance reported.
    """
    live = run.call("GET", "/healthz", expect=200)
    ready = run.call("GET", "/readyz", expect=200)
    return ", ".join(f"{part} {state}" for part, state in {**live, **ready}.items())


def check_catalog(run: SmokeRun) -> str:
    """The product list, and a variant with units left for the order check.

    Args:
        run: The run.

    Returns:
        The product count and the variant picked.

    Raises:
        SmokeFailure: No variant has a unit left.
    """
    page = run.call("GET", f"{SYNC_API}/catalog/products", expect=200, params={"page_size": 100})
    in_stock = [
        variant
        for product in page["results"]
        for variant in product["variants"]
        if variant["available"] > 0
    ]
    if not in_stock:
        raise SmokeFailure(
            f"{page['count']} in the catalog, but no variant has a unit left to order"
        )
    run.variant = in_stock[0]
    sku, left = run.variant["sku"], run.variant["available"]
    return f"{page['count']} in the catalog; ordering {sku} ({left} left)"


def check_login(run: SmokeRun) -> str:
    """An API token for the smoke user.

    Args:
        run: The run.

    Returns:
        Who logged in.
    """
    body = run.call(
        "POST",
        f"{SYNC_API}/auth/token",
        expect=200,
        json={"username": run.username, "password": run.password},
    )
    run.token = body["token"]
    return f"token for {run.username}"


def check_order(run: SmokeRun) -> str:
    """Place an order for one unit, then cancel it (the unit goes back).

    Args:
        run: The run.

    Returns:
        The order.
    """
    order = run.call(
        "POST",
        f"{SYNC_API}/orders",
        expect=201,
        json={"items": [{"variant_id": run.variant["id"], "quantity": 1}]},
    )
    cancelled = run.call("POST", f"{SYNC_API}/orders/{order['id']}/cancel", expect=200)
    placed = f"order {order['id']} {order['status']} ({order['total']} {order['currency']})"
    return f"{placed}, then {cancelled['status']}"


def check_task(run: SmokeRun) -> str:
    """The echo task: enqueued, run by a worker, its value back, before the deadline.

    Args:
        run: The run.

    Returns:
        How long the round trip took.

    Raises:
        SmokeFailure: No worker ran it in time, or it failed.
    """
    value = secrets.randbelow(2**31)
    started = time.monotonic()
    task = run.call("POST", f"{SYNC_API}/ops/echo-task", expect=202, json={"value": value})
    while True:
        result = run.call("GET", f"{SYNC_API}/ops/echo-task/{task['task_id']}", expect=200)
        if result["status"] == "SUCCESSFUL":
            if result["return_value"] != value:
                raise SmokeFailure(f"sent {value}, the task returned {result['return_value']}")
            return f"echo {value} came back from a worker in {time.monotonic() - started:.2f} s"
        if result["status"] == "FAILED":
            raise SmokeFailure(f"the echo task failed: {result}")
        if time.monotonic() > run.deadline:
            raise SmokeFailure(
                f"still {result['status']} after {time.monotonic() - started:.1f} s: "
                "is a worker serving the critical queue?"
            )
        time.sleep(TASK_POLL_S)


@dataclass(frozen=True)
class Check:
    """One check of the smoke test."""

    name: str
    run: Callable[[SmokeRun], str]
    needs: tuple[str, ...] = ()


CHECKS = (
    Check("health", check_health),
    Check("catalog", check_catalog),
    Check("login", check_login),
    Check("order", check_order, needs=("catalog", "login")),
    Check("task", check_task, needs=("login",)),
)


@dataclass(frozen=True)
class Outcome:
    """What one check found.

    Attributes:
        name: The check.
        status: ``PASS``, ``FAIL`` or ``SKIP``.
        seconds: How long it took.
        detail: What it saw, or why it failed or was skipped.
    """

    name: str
    status: str
    seconds: float
    detail: str


# --8<-- [start:run_smoke]
def run_smoke(
    *,
    base_url: str,
    username: str,
    password: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    headers: dict[str, str] | None = None,
) -> list[Outcome]:
    """Run every check against an instance, in order, within one deadline.

    Args:
        base_url: The instance, ``https://shop.example.com`` (no trailing path).
        username: A staff user of that instance.
        password: Its password.
        timeout_s: The whole run's deadline.
        headers: Headers sent with every request (``X-Forwarded-Proto``, ``Host``).

    Returns:
        One outcome per check.
    """
    outcomes: list[Outcome] = []
    passed: set[str] = set()
    with httpx.Client(
        base_url=base_url.rstrip("/"), timeout=REQUEST_TIMEOUT_S, headers=headers
    ) as client:
        run = SmokeRun(
            client=client,
            username=username,
            password=password,
            deadline=time.monotonic() + timeout_s,
        )
        for check in CHECKS:
            missing = [need for need in check.needs if need not in passed]
            if missing:
                outcomes.append(Outcome(check.name, "SKIP", 0.0, f"needs {', '.join(missing)}"))
                continue
            started = time.monotonic()
            try:
                detail, status = check.run(run), "PASS"
                passed.add(check.name)
            except SmokeFailure as failure:
                detail, status = str(failure), "FAIL"
            except (KeyError, TypeError) as error:  # JSON, but not the shop's answer
                detail, status = f"an answer without the expected fields ({error!r})", "FAIL"
            outcomes.append(Outcome(check.name, status, time.monotonic() - started, detail))
    return outcomes


# --8<-- [end:run_smoke]


def report(outcomes: Sequence[Outcome], *, base_url: str, seconds: float) -> str:
    """Format the outcomes for a person.

    Args:
        outcomes: What :func:`run_smoke` returned.
        base_url: The instance.
        seconds: The whole run's time.

    Returns:
        One line per check and a verdict.
    """
    lines = [f"smoke test of {base_url}"]
    lines += [f"  {o.status}  {o.name:<8} {o.seconds:6.2f} s  {o.detail}" for o in outcomes]
    failed = [o.name for o in outcomes if o.status != "PASS"]
    verdict = f"FAILED ({', '.join(failed)})" if failed else "PASSED"
    lines.append(f"{verdict}: {len(outcomes)} checks in {seconds:.2f} s")
    return "\n".join(lines)


def parse_header(raw: str) -> tuple[str, str]:
    """Read ``Name: value`` from the command line.

    Args:
        raw: The argument.

    Returns:
        The name and the value.

    Raises:
        argparse.ArgumentTypeError: It is not ``Name: value``.
    """
    name, separator, value = raw.partition(":")
    if not separator or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"a header is 'Name: value', got {raw!r}")
    return name.strip(), value.strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the smoke test from the command line.

    Args:
        argv: The arguments (``sys.argv[1:]`` by default).

    Returns:
        0 when every check passed, 1 when one did not, 2 on a usage error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m fashionistar.ops.smoke", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--base-url", required=True, help="the instance, http(s)://host[:port]")
    parser.add_argument("--username", default=os.environ.get("SMOKE_USERNAME", ""))
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds")
    parser.add_argument(
        "--header",
        type=parse_header,
        action="append",
        default=[],
        help="'Name: value' sent with every request (repeatable)",
    )
    options = parser.parse_args(argv)
    password = os.environ.get("SMOKE_PASSWORD", "")
    if not options.username or not password:
        print("set SMOKE_PASSWORD, and SMOKE_USERNAME or --username", file=sys.stderr)
        return 2
    started = time.monotonic()
    outcomes = run_smoke(
        base_url=options.base_url,
        username=options.username,
        password=password,
        timeout_s=options.timeout,
        headers=dict(options.header),
    )
    print(report(outcomes, base_url=options.base_url, seconds=time.monotonic() - started))
    return 0 if all(o.status == "PASS" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
