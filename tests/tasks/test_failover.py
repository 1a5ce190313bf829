"""Fault test: the Redis master dies while orders are placed; no committed order's task is lost.

A Sentinel group (master, replica, three Sentinels) replaces the stack's Redis for this test.
A real worker process serves every queue through Sentinel. Orders are placed in a thread, one
after another; halfway, the master is SIGKILLed. Orders committed while there is no master write
their tasks to the outbox and fail to push them; the worker's sweep pushes them once Sentinel
has promoted the replica. At the end every order has its mail, its analytics fact, and its
payment deadline waiting in RQ's scheduler, and the outbox holds nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Count
from django.tasks import task_backends
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from fashionistar.analytics.models import OrderFact
from fashionistar.orders.models import Order
from fashionistar.orders.services import OrderItem, order_place
from fashionistar.orders.tasks import order_payment_deadline_task
from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.monitoring import queue_stats
from fashionistar_dev.stack.redis_ha import RedisHA, start_redis_ha
from tests.factories import make_product, make_user, variant_of
from tests.processes import spawn_worker, stop, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

ORDERS = 24


def state_report(mailbox: list, worker_log: Path) -> str:
    """What is done, where the rest waits, the worker's last words: for a test that timed out."""
    rows = OutboxEntry.objects.values("name").annotate(count=Count("pk")).order_by("name")
    outbox = {row["name"].rsplit(".", 1)[-1]: row["count"] for row in rows}
    connection_ = task_backends["default"].connection
    registries = {
        name: (
            f"queued {queue.count}, scheduled {queue.scheduled_job_registry.count}, "
            f"started {queue.started_job_registry.count}, "
            f"failed {queue.failed_job_registry.count}, "
            f"dequeued but not started {len(queue.intermediate_queue.get_job_ids())}"
        )
        for name in sorted(task_backends["default"].queues)
        for queue in [Queue(name, connection=connection_)]
    }
    jobs = {}
    for entry in OutboxEntry.objects.exclude(name=order_payment_deadline_task.module_path):
        try:
            job = Job.fetch(str(entry.pk), connection=connection_)
        except NoSuchJobError:
            jobs[str(entry.pk)] = "not in Redis"
        else:
            jobs[str(entry.pk)] = f"{job.get_status()}, enqueued at {job.enqueued_at}"
    locks = {key.decode(): connection_.get(key) for key in connection_.keys("rq:scheduler-lock:*")}
    last_words = []
    for line in worker_log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # RQ's own lines; of their tracebacks, the last line says enough
            if line.strip() and not line.startswith((" ", "Traceback", "During", "The above")):
                last_words.append(line)
        else:
            last_words.append(f"{record['message']} {record.get('error.message', '')}")
    return "\n".join(
        [
            f"facts {OrderFact.objects.count()}, mails {len(mailbox)}, outbox {outbox}",
            *(f"{name}: {figures}" for name, figures in registries.items()),
            f"jobs still in the outbox {jobs}",
            f"scheduler locks {locks}",
            "worker's last warnings and errors:",
            *(words[:200] for words in last_words[-12:]),
        ]
    )


@pytest.fixture
def sentinel_redis(settings) -> Iterator[RedisHA]:
    with start_redis_ha() as ha:
        settings.REDIS_SENTINELS = [f"{host}:{port}" for host, port in ha.sentinels]
        settings.REDIS_SENTINEL_MASTER = ha.master_name
        settings.TASKS = {  # a new backend instance, connected through the Sentinels
            "default": {
                **settings.TASKS["default"],
                "OPTIONS": {**settings.TASKS["default"]["OPTIONS"], "SWEEP_AFTER_S": 1},
            }
        }
        settings.ORDER_PAYMENT_WINDOW_S = 3600
        yield ha


def start_worker(ha: RedisHA, smtp_port: int, log: Path) -> subprocess.Popen[bytes]:
    return spawn_worker(
        log=log,
        REDIS_SENTINELS=",".join(f"{host}:{port}" for host, port in ha.sentinels),
        REDIS_SENTINEL_MASTER=ha.master_name,
        TASKS_SWEEP_AFTER_S="1",
        TASKS_RETRY_INTERVAL_S="1",  # an attempt that failed during the outage retries soon
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
    )


def test_orders_placed_across_a_master_failover_lose_no_task(
    sentinel_redis: RedisHA, mailbox, settings, tmp_path: Path, caplog
) -> None:
    # Each push while there is no master logs a warning with its traceback: expected here, and
    # it would bury the report of a failure.
    caplog.set_level(logging.ERROR, logger="fashionistar.tasks.backend")
    customer = make_user("ada")
    dress = make_product(price="20.00", stock=ORDERS)
    item = [OrderItem(variant_id=variant_of(dress).pk, quantity=1)]
    placed: list[int] = []
    failover_s: list[float] = []

    def place_orders() -> None:
        try:
            for number in range(ORDERS):
                if number == ORDERS // 3:
                    sentinel_redis.kill_master()  # orders go on while there is no master
                    watcher.start()
                placed.append(order_place(user=customer, items=item).pk)
        finally:
            connection.close()

    watcher = threading.Thread(target=lambda: failover_s.append(sentinel_redis.wait_for_failover()))
    smtp_port = settings.MAILERS["smtp"]["OPTIONS"]["port"]
    worker_log = tmp_path / "worker.log"
    worker = start_worker(sentinel_redis, smtp_port, worker_log)
    try:
        wait_for(lambda: queue_stats()[0].workers == 1, timeout_s=60)
        placer = threading.Thread(target=place_orders)
        started = time.monotonic()
        placer.start()
        placer.join(timeout=120)
        watcher.join(timeout=60)
        assert len(placed) == ORDERS
        recovered = wait_for(
            lambda: (
                OrderFact.objects.count() == ORDERS
                and Order.objects.filter(confirmation_sent_at__isnull=False).count() == ORDERS
                and len(mailbox) == ORDERS
            ),
            timeout_s=150,
        )
    except TimeoutError:
        pytest.fail(state_report(mailbox, worker_log))
    finally:
        # Teardown only (how a worker stops is not what this test is about): its whole session.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    print(
        f"failover {failover_s[0]:.1f} s; all {ORDERS} orders' mails and facts done "
        f"{time.monotonic() - started:.1f} s after the first order "
        f"({recovered:.1f} s after the last)"
    )
    assert OrderFact.objects.filter(order_id__in=placed).count() == ORDERS
    # Each order's payment deadline waits in RQ's scheduler (an hour): in Redis, not lost.
    deadlines = OutboxEntry.objects.filter(name=order_payment_deadline_task.module_path)
    assert deadlines.count() == ORDERS
    connection_ = task_backends["default"].connection
    assert {Job.fetch(str(e.pk), connection=connection_).get_status() for e in deadlines} == {
        "scheduled"
    }
    assert OutboxEntry.objects.count() == ORDERS  # nothing else left behind
    subjects = sorted(message["Subject"] for message in mailbox)
    assert subjects == sorted(f"Your Fashionistar order {pk}" for pk in placed)  # once each


def test_a_worker_that_lived_through_a_failover_stops_on_sigterm(
    sentinel_redis: RedisHA, tmp_path: Path
) -> None:
    """RQ's teardown can fail on Redis after a failover: the stop asked for must still hold."""
    worker = start_worker(sentinel_redis, smtp_port=1, log=tmp_path / "worker.log")
    try:
        wait_for(lambda: queue_stats()[0].workers == 1, timeout_s=60)
        sentinel_redis.kill_master()
        sentinel_redis.wait_for_failover()
        time.sleep(5)  # the worker meets the new master, or is still trying to
    finally:
        code = stop(worker)
    assert code == 0
