"""How long a committed order's tasks wait when something fails: shipped settings, test ones.

    uv run python benchmarks/task_recovery.py [--runs 3] [--markdown FILE]

(``FILE``: ``docs/assets/task-recovery.md.txt``, which the pages include.)

Two faults, each under two profiles, each run in a fresh process on a fresh native stack, with one
real worker (``manage.py run_worker``, every queue) and a mail sink:

- **lost push**: the process that placed an order dies between the commit and the push to Redis
  (``os._exit`` in the first ``on_commit`` callback); the outbox holds the order's three tasks
  and the workers' sweep pushes them. Measured: from the process's death until the order's mail
  is sent, its analytics fact written and its payment deadline run.
- **Redis failover**: orders are placed one after another through Sentinel (a master, a replica
  and three Sentinels); the master is SIGKILLed after the first third. Measured: from the kill
  until every order's mail and fact are done.

Profiles: **shipped**, the settings a deployment gets (``SWEEP_AFTER_S`` 30 s, a worker
maintenance pass every 10 s, each queue's own retry intervals, Sentinel's ``down-after`` 5 s and
``failover-timeout`` 30 s as in ``deploy/redis/sentinel.conf``); **test**, what the test suite
uses to be quick (1 s everywhere, Sentinel 2 s and 3 s).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from common import Watch, seconds_spread

from fashionistar_dev.processes import die_with_parent

ROOT = Path(__file__).resolve().parents[1]
ORDERS = 12
PROFILES: dict[str, dict[str, str]] = {
    "shipped": {},  # the settings' own defaults
    "test": {
        "TASKS_SWEEP_AFTER_S": "1",
        "TASK_WORKER_MAINTENANCE_S": "1",
        "TASK_WORKER_MONITORING_S": "1",
        "TASKS_RETRY_INTERVAL_S": "1",
    },
}
SENTINEL_TIMINGS_MS = {"shipped": (5000, 30000), "test": (2000, 3000)}
TIMEOUT_S = float(os.environ.get("TASK_RECOVERY_TIMEOUT_S", "600"))

DIE_AFTER_COMMIT = """
import os, sys
import django
django.setup()
from django.db import transaction
from fashionistar.accounts.models import User
from fashionistar.orders.services import OrderItem, order_place
with transaction.atomic():
    transaction.on_commit(lambda: os._exit(17))
    order_place(user=User.objects.get(username="bench"),
                items=[OrderItem(variant_id=int(sys.argv[1]), quantity=1)])
"""


def wait_until(
    done: Callable[[], bool], *, timeout_s: float = TIMEOUT_S, state: Callable[[], str] = str
) -> float:
    """Poll until ``done()``; return when it became true.

    Args:
        done: The condition.
        timeout_s: Give up after this long.
        state: Describes what is done so far, for the error.

    Returns:
        ``time.monotonic()`` at that moment.

    Raises:
        TimeoutError: It did not become true in time.
    """
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the tasks did not all run in time: {state()}")
        time.sleep(0.05)
    return time.monotonic()


def measure(fault: str, profile: str) -> float:
    """One run of one fault under one profile, in this process: seconds until recovered.

    Args:
        fault: ``lost-push`` or ``failover``.
        profile: ``shipped`` or ``test``.

    Returns:
        The recovery time.
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    from fashionistar_dev.processes import free_port
    from fashionistar_dev.stack import running_stack
    from fashionistar_dev.stack.redis_ha import SentinelTimings, start_redis_ha

    mails: list[Any] = []

    class Inbox(Message):
        def handle_message(self, message: Any) -> None:
            mails.append(message)

    sink = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    sink.start()
    env = {
        **PROFILES[profile],
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": "fashionistar.project.settings",
        "ORDER_PAYMENT_WINDOW_S": "0",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "LOG_LEVEL": "ERROR",
    }
    with running_stack(environ={"FASHIONISTAR_STACK": "native"}) as stack:
        env.update(stack.urls.environ())
        if fault == "lost-push":
            return _lost_push(env, mails)
        down_after, failover = SENTINEL_TIMINGS_MS[profile]
        with start_redis_ha(timings=SentinelTimings(down_after, failover)) as ha:
            env.update(
                REDIS_URL=f"redis://{ha.master_address()[0]}:{ha.master_address()[1]}/0",
                REDIS_SENTINELS=",".join(f"{host}:{port}" for host, port in ha.sentinels),
                REDIS_SENTINEL_MASTER=ha.master_name,
            )
            return _failover(env, mails, ha.kill_master)


def _django(env: dict[str, str]) -> Any:
    """Set Django up in this process on the stack; migrate; return a customer and a variant."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from fashionistar.accounts.models import User
    from fashionistar.catalog.models import Category
    from fashionistar.catalog.services import VariantSpec, product_create

    User.objects.create_user(
        username="bench", email="bench@example.com", password=secrets.token_urlsafe(16)
    )
    category = Category.objects.create(name="Bench", slug="bench")
    product = product_create(
        category=category,
        name="Bench dress",
        slug="bench-dress",
        price=Decimal("20.00"),
        currency="EUR",
        variants=[VariantSpec(sku="BENCH-M", size="M", colour="black", stock=10_000)],
    )
    return product.variants.get()


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_worker"],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def _state(order_ids: list[int], mails: list[Any]) -> Callable[[], str]:
    from fashionistar.analytics.models import OrderFact
    from fashionistar.orders.models import Order
    from fashionistar.tasks.models import OutboxEntry

    def state() -> str:
        statuses = list(Order.objects.filter(pk__in=order_ids).values_list("status", flat=True))
        outbox = list(OutboxEntry.objects.values_list("name", "failed_at"))
        return (
            f"{len(mails)} mails, {OrderFact.objects.count()} facts, statuses {statuses}, "
            f"outbox {outbox}"
        )

    return state


def _stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def _all_done(order_ids: list[int], mails: list[Any]) -> Callable[[], bool]:
    from fashionistar.analytics.models import OrderFact
    from fashionistar.orders.models import Order, OrderStatus

    def done() -> bool:
        return (
            len(mails) >= len(order_ids)
            and OrderFact.objects.filter(order_id__in=order_ids).count() == len(order_ids)
            and Order.objects.filter(pk__in=order_ids, status=OrderStatus.CANCELLED).count()
            == len(order_ids)
        )

    return done


def _lost_push(env: dict[str, str], mails: list[Any]) -> float:
    variant = _django(env)
    from fashionistar.orders.models import Order

    worker = _worker(env)
    try:
        died = subprocess.run(
            [sys.executable, "-c", DIE_AFTER_COMMIT, str(variant.pk)],
            env={**os.environ, **env},
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        dead_at = time.monotonic()
        if died.returncode != 17:
            raise RuntimeError(died.stderr.decode())
        order_ids = list(Order.objects.values_list("pk", flat=True))
        done, state = _all_done(order_ids, mails), _state(order_ids, mails)
        return wait_until(done, state=state) - dead_at
    finally:
        _stop(worker)


def _failover(env: dict[str, str], mails: list[Any], kill_master: Callable[[], Any]) -> float:
    variant = _django(env)
    from fashionistar.accounts.models import User
    from fashionistar.orders.services import OrderItem, order_place

    worker = _worker(env)
    customer = User.objects.get(username="bench")
    items = [OrderItem(variant_id=variant.pk, quantity=1)]
    try:
        time.sleep(2)  # the worker registers and takes the scheduler locks
        order_ids, killed_at = [], 0.0
        for number in range(ORDERS):
            if number == ORDERS // 3:
                kill_master()
                killed_at = time.monotonic()
            order_ids.append(order_place(user=customer, items=items).pk)
            time.sleep(0.5)
        done, state = _all_done(order_ids, mails), _state(order_ids, mails)
        return wait_until(done, state=state) - killed_at
    finally:
        _stop(worker)


def main() -> None:
    """Measure each fault under each profile, each run in a process of its own; print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--markdown", type=Path)
    parser.add_argument("--one", nargs=2, metavar=("FAULT", "PROFILE"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        print(json.dumps(measure(*options.one)))
        return
    watch = Watch()
    figures: dict[tuple[str, str], list[float]] = {}
    for fault in ("lost-push", "failover"):
        for profile in PROFILES:
            for run in range(options.runs):
                child = subprocess.run(
                    [sys.executable, __file__, "--one", fault, profile],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                seconds = float(child.stdout.strip().splitlines()[-1])
                figures.setdefault((fault, profile), []).append(seconds)
                print(f"{fault} {profile} run {run + 1}: {seconds:.1f} s", flush=True)
    labels = {
        "lost-push": "the placing process dies between commit and push",
        "failover": "the Redis master is killed while orders are placed",
    }
    lines = [
        watch.taken_on(),
        "",
        "| fault | shipped settings | test settings |",
        "|---|---|---|",
        *(
            f"| {labels[fault]} | {seconds_spread(figures[fault, 'shipped'])} | "
            f"{seconds_spread(figures[fault, 'test'])} |"
            for fault in labels
        ),
        "",
        f"Seconds until every task of every order has run: median (min to max) of "
        f"{options.runs} runs, each on a fresh stack, by "
        f"`python benchmarks/task_recovery.py --runs {options.runs}`.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if options.markdown:
        options.markdown.write_text(text)


if __name__ == "__main__":
    main()
