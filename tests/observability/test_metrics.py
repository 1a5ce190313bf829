from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time

import httpx
import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from prometheus_client import generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from fashionistar.kernel.redis_client import redis_client
from fashionistar.observability.metrics import REGISTRY, process_registry, task_timed
from fashionistar_dev.processes import free_port, shop_server_command
from tests.api_support import both_apis, call
from tests.factories import make_product
from tests.processes import ROOT, spawn_worker, stop, wait_for, wait_until_up
from tests.tasks.sample_tasks import add

AGREED_NAMES = {
    # name as the text format's parser reports it (a counter without "_total") -> type
    "fashionistar_http_request_duration_seconds": "histogram",
    "fashionistar_db_queries_per_request": "histogram",
    "fashionistar_cache_requests": "counter",
    "fashionistar_task_duration_seconds": "histogram",
    "fashionistar_task_queue_depth": "gauge",
    "fashionistar_task_oldest_job_age_seconds": "gauge",
    "fashionistar_task_failed_jobs": "gauge",
    "fashionistar_task_workers": "gauge",
}


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str) -> dict[str, list]:
    return {family.name: family for family in text_string_to_metric_families(text)}


@pytest.mark.django_db
@both_apis
def test_latency_is_recorded_by_route_method_and_status(api) -> None:
    labels = {"route": f"{api.strip('/')}/catalog/products", "method": "GET", "status": "200"}
    before = value("fashionistar_http_request_duration_seconds_count", **labels)

    assert call(api, "get", "catalog/products").status == 200

    assert value("fashionistar_http_request_duration_seconds_count", **labels) == before + 1


@pytest.mark.django_db
@both_apis
def test_queries_per_request_are_the_statements_django_ran(api) -> None:
    for _ in range(3):
        make_product()
    count = value("fashionistar_db_queries_per_request_count")
    total = value("fashionistar_db_queries_per_request_sum")

    with CaptureQueriesContext(connection) as ran:
        call(api, "get", "catalog/products")

    assert len(ran) > 0
    assert value("fashionistar_db_queries_per_request_count") == count + 1
    assert value("fashionistar_db_queries_per_request_sum") == total + len(ran)


@pytest.mark.django_db
def test_label_values_stay_bounded_whatever_the_client_sends() -> None:
    labels = {"route": "<unmatched>", "method": "other", "status": "404"}
    before = value("fashionistar_http_request_duration_seconds_count", **labels)

    Client().generic("BREW", "/coffee/pot-42")

    assert value("fashionistar_http_request_duration_seconds_count", **labels) == before + 1


def test_cache_reads_count_as_hits_and_misses() -> None:
    hits, misses = (value("fashionistar_cache_requests_total", result=r) for r in ("hit", "miss"))
    cache.set("metrics-test", "here", timeout=30)

    assert cache.get("metrics-test-absent", "fallback") == "fallback"  # miss
    assert cache.get("metrics-test") == "here"  # hit
    assert cache.get_many(["metrics-test", "metrics-test-absent"]) == {"metrics-test": "here"}
    assert async_to_sync(cache.aget)("metrics-test") == "here"  # the async API counts too
    assert async_to_sync(cache.aget)("metrics-test-absent") is None
    assert async_to_sync(cache.aget_many)(["metrics-test", "metrics-test-absent"]) == {
        "metrics-test": "here"
    }

    assert value("fashionistar_cache_requests_total", result="hit") == hits + 4
    assert value("fashionistar_cache_requests_total", result="miss") == misses + 4


def test_task_attempts_are_timed_by_queue_failures_included() -> None:
    before = value("fashionistar_task_duration_seconds_count", queue="emails")
    with task_timed(queue="emails"):
        time.sleep(0.01)
    with pytest.raises(ConnectionError), task_timed(queue="emails"):
        raise ConnectionError("smtp down")
    assert value("fashionistar_task_duration_seconds_count", queue="emails") == before + 2
    assert value("fashionistar_task_duration_seconds_sum", queue="emails") >= 0.01


@pytest.fixture
def emails_queue(clean_redis):
    """The emails queue, every queue empty (another test's jobs may still be waiting)."""
    queue = Queue("emails", connection=redis_client())
    queue.empty()
    yield queue
    queue.empty()


@pytest.mark.django_db
def test_the_endpoint_exposes_every_agreed_metric_and_the_queues(emails_queue) -> None:
    emails_queue.enqueue(print, "waiting")
    response = Client().get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    families = scraped(response.content.decode())
    assert {name: families[name].type for name in AGREED_NAMES} == AGREED_NAMES
    depth = {s.labels["queue"]: s.value for s in families["fashionistar_task_queue_depth"].samples}
    assert depth == {"analytics": 0.0, "critical": 0.0, "emails": 1.0}
    ages = families["fashionistar_task_oldest_job_age_seconds"].samples
    assert all(sample.value >= 0 for sample in ages)


@pytest.mark.django_db
def test_the_endpoint_answers_without_the_queues_when_redis_is_down(settings, caplog) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    with caplog.at_level(logging.WARNING, logger="fashionistar.observability.metrics"):
        response = Client().get("/metrics")

    assert response.status_code == 200
    families = scraped(response.content.decode())
    assert "fashionistar_http_request_duration_seconds" in families
    assert "fashionistar_task_queue_depth" not in families
    assert "Queue metrics skipped" in caplog.text
    assert "ConnectionError" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_with_two_server_processes_every_scrape_counts_both(tmp_path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        shop_server_command(interface="wsgi", port=port, workers=2), env=env, cwd=ROOT
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz")
        requests = 40
        for _ in range(requests):  # a new connection each: either process may answer
            assert httpx.get(f"{base}/api/sync/catalog/products").status_code == 200
        counts = set()
        for _ in range(6):
            families = scraped(httpx.get(f"{base}/metrics").text)
            histogram = families["fashionistar_http_request_duration_seconds"]
            counts |= {
                sample.value
                for sample in histogram.samples
                if sample.name.endswith("_count")
                and sample.labels["route"] == "api/sync/catalog/products"
            }
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert counts == {requests}
    pids = {re.sub(r"\D", "", path.name) for path in tmp_path.glob("histogram_*.db")}
    assert len(pids) == 2  # both processes wrote samples there


def task_durations(scrape: str, queue: str) -> float:
    """How many task attempts of a queue a scrape counts (0 before the first one)."""
    return next(
        (
            sample.value
            for family in text_string_to_metric_families(scrape)
            for sample in family.samples
            if sample.name == "fashionistar_task_duration_seconds_count"
            and sample.labels == {"queue": queue}
        ),
        0.0,
    )


@pytest.mark.django_db(transaction=True)  # a task reaches Redis when its transaction commits
def test_a_forking_worker_serves_its_tasks_durations(clean_redis, tmp_path) -> None:
    port = free_port()
    worker = spawn_worker(
        "critical", TASK_WORKER_METRICS_PORT=str(port), PROMETHEUS_MULTIPROC_DIR=str(tmp_path)
    )
    try:
        add.enqueue(a=1, b=1)
        add.enqueue(a=2, b=2)
        # Each attempt runs in a forked child; the worker adds up their files.
        wait_for(
            lambda: task_durations(httpx.get(f"http://127.0.0.1:{port}/").text, "critical") == 2,
            60,
            errors=(httpx.TransportError,),
        )
    finally:
        assert stop(worker) == 0


def test_a_scrape_leaves_out_a_process_file_not_sized_yet(tmp_path, monkeypatch) -> None:
    """A process creates its file, then sizes it; one killed in between leaves it empty."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    written = MmapedDict(str(tmp_path / "counter_101.db"))
    key = mmap_key("fashionistar_orders", "fashionistar_orders_total", [], [], "Orders.")
    written.write_value(key, 3.0, 0)
    written.close()
    (tmp_path / "counter_102.db").touch()  # created, not sized yet

    families = scraped(generate_latest(process_registry()).decode())

    assert [sample.value for sample in families["fashionistar_orders"].samples] == [3.0]


def test_a_forking_worker_without_a_multiprocess_directory_refuses_to_export() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        [sys.executable, "manage.py", "run_worker", "critical", "--metrics-port", "9"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "set PROMETHEUS_MULTIPROC_DIR" in result.stderr
