"""The whole flow, for real: API → commit → OrderPlaced → tasks on three queues → workers.

Also: mail through a real SMTP server, queue figures, and a worker process killed mid-task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.mail import send_mail
from django.core.management import call_command
from django.core.management.base import CommandError
from django.tasks import TaskResultStatus, task_backends
from rq import Queue
from rq.registry import clean_registries

from fashionistar.analytics.models import OrderFact
from fashionistar.kernel.redis_client import redis_client
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.tasks.email import deliver_email
from fashionistar.tasks.models import OutboxEntry
from fashionistar.tasks.monitoring import queue_stats
from fashionistar.tasks.worker import drain
from fashionistar_dev.processes import free_port
from tests.api_support import ASYNC, call
from tests.factories import make_product, make_user, variant_of
from tests.processes import ROOT, spawn_worker, stop, wait_for
from tests.tasks.sample_tasks import add, always_fails, slow_mark

pytestmark = pytest.mark.django_db(transaction=True)


def test_send_mail_is_delivered_by_a_worker_through_smtp(fast_retries, mailbox) -> None:
    send_mail("Hello", "A body.", "shop@fashionistar.example", ["ada@example.com"])
    assert mailbox == []  # the request only enqueued it
    drain(queues=["emails"])
    [message] = mailbox
    assert message["Subject"] == "Hello"
    assert message["To"] == "ada@example.com"
    assert message.get_payload().strip() == "A body."


def test_a_failing_smtp_server_is_retried_by_rq(fast_retries, mailbox, settings) -> None:
    settings.MAILERS["smtp"]["OPTIONS"]["port"] = free_port()
    result = deliver_email.enqueue(sender="a@example.com", recipients=["b@example.com"], raw="x")
    drain(queues=["emails"])  # nobody listens on the configured port: four failed attempts
    result.refresh()
    assert (result.status, result.attempts) == (TaskResultStatus.FAILED, 4)
    assert result.errors[0].exception_class_path == "builtins.ConnectionRefusedError"


def test_an_order_placed_through_the_api_runs_its_three_tasks(
    fast_retries, mailbox, settings
) -> None:
    settings.ORDER_PAYMENT_WINDOW_S = 1
    customer = make_user("ada")
    dress = make_product(name="Silk Dress", price="89.00", stock=5)
    items = [{"variant_id": variant_of(dress).pk, "quantity": 2}]
    answer = call(ASYNC, "post", "orders", user=customer, body={"items": items})
    assert answer.status == 201
    order_id = answer.body["id"]
    stats = {s.queue: s.depth for s in queue_stats()}
    assert stats == {"analytics": 1, "critical": 0, "emails": 1}  # the deadline is scheduled
    drain()  # runs the mail, the analytics, then the deadline once its second has passed
    [message] = mailbox
    assert message["Subject"] == f"Your Fashionistar order {order_id}"
    assert "Total: 178.00 EUR" in message.get_payload()
    assert OrderFact.objects.get(order_id=order_id).units == 2
    order = Order.objects.get(pk=order_id)
    assert order.status == OrderStatus.CANCELLED  # unpaid when its window closed
    assert order.confirmation_sent_at is not None
    assert not OutboxEntry.objects.exists()


def test_queue_stats_read_depth_age_failures_and_workers(fast_retries) -> None:
    add.enqueue(a=1, b=1)
    always_fails.enqueue()
    later = datetime.now(UTC) + timedelta(seconds=30)
    stats = {s.queue: s for s in queue_stats(now=later)}
    assert stats["critical"].depth == 1
    assert stats["critical"].oldest_job_age_seconds >= 29
    assert stats["emails"].oldest_job_age_seconds == 0
    drain()
    stats = {s.queue: s for s in queue_stats()}
    assert stats["analytics"].failed == 1
    assert stats["critical"].workers == 0  # burst workers are gone


def test_the_worker_command_refuses_unknown_queues() -> None:
    with pytest.raises(CommandError, match="unknown queues"):
        call_command("run_worker", "nope")


@pytest.mark.parametrize("kind", ["fork", "simple"])
def test_a_task_whose_worker_is_killed_mid_task_is_retried_and_completes(
    fast_retries, kind: str
) -> None:
    """Both kinds beat for a running task every second here (TASK_WORKER_MONITORING_S): the
    killed worker's task is retried 3 beats later, far sooner than its timeout (60 s) plus a
    minute, which is when RQ would retry it with no heartbeat at all. The test looks for it as
    another worker's maintenance does (RQ's ``clean_registries``), and a burst worker runs the
    retry."""
    result = slow_mark.enqueue(key="killed", seconds=2)
    worker = spawn_worker("critical", "--kind", kind)
    try:
        wait_for(lambda: slow_mark.get_result(result.id).attempts == 1, timeout_s=20)  # running
        # The worker and its children: the scheduler, and with fork the one running the task
        # (RQ puts that one in its own session).
        children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        for pid in [worker.pid, *map(int, children)]:
            os.kill(pid, signal.SIGKILL)
        worker.wait()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    queue = Queue("critical", connection=task_backends["default"].connection)

    def retried() -> bool:
        clean_registries(queue)
        return queue.count == 1

    requeued_after = wait_for(retried, timeout_s=30)
    print(f"{kind}: killed worker's task back in its queue {requeued_after:.1f} s after the kill")
    drain(queues=["critical"])
    result.refresh()
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.attempts == 2  # the killed attempt counts
    assert redis_client().get("done:killed") == b"1"  # only the second run finished
    assert not OutboxEntry.objects.exists()


def test_worker_alive_answers_for_this_host_only_while_a_worker_runs(fast_retries) -> None:
    with pytest.raises(CommandError, match="no live task worker"):
        call_command("worker_alive")
    worker = spawn_worker("critical")
    try:
        wait_for(lambda: queue_stats()[1].workers == 1, timeout_s=60)  # a busy machine is slow
        call_command("worker_alive")
    finally:
        exit_code = stop(worker)
    assert exit_code == 0
    with pytest.raises(CommandError):
        call_command("worker_alive")


def test_a_worker_that_cannot_reach_redis_keeps_trying_and_stops_on_sigterm() -> None:
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "REDIS_SENTINELS": ""}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "critical"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,  # the JSON log lines
        stderr=subprocess.DEVNULL,
    )
    try:
        assert worker.stdout is not None
        for line in worker.stdout:  # wait until it has started and failed to connect
            if b"cannot reach Redis" in line:
                break
        assert worker.poll() is None  # still trying, not crashed
        worker.terminate()
        assert worker.wait(timeout=10) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
