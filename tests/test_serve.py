"""`make serve`: the shop and the docs on a stack that keeps its data, stopped by Ctrl-C."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fashionistar_dev.demo import DEMO_USERNAME, demo_load
from fashionistar_dev.serve import local_secret_key
from fashionistar_dev.stack.native import free_port
from tests.test_stack import child_pids, wait_gone


def wait_for(url: str, timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        children = child_pids(todo.pop())
        found += children
        todo += children
    return found


def healthz_count(scrape: str) -> float:
    """The number of ``/healthz`` requests answered 200, in a Prometheus scrape."""
    return next(
        sample.value
        for family in text_string_to_metric_families(scrape)
        for sample in family.samples
        if sample.name == "fashionistar_http_request_duration_seconds_count"
        and sample.labels.get("route") == "healthz"
        and sample.labels.get("status") == "200"
    )


def test_serve_runs_shop_and_docs_until_ctrl_c() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="fashionistar-serve-"))
    app_port, docs_port, smtp_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    process = subprocess.Popen(
        [sys.executable, "-m", "fashionistar_dev.serve", "--app-port", str(app_port),
         "--docs-port", str(docs_port), "--smtp-port", str(smtp_port), "--data-dir", str(data_dir)],
        env={**env, "FASHIONISTAR_STACK": "native"},
    )  # fmt: skip
    try:
        health = wait_for(f"http://127.0.0.1:{app_port}/healthz")
        assert health.status_code == 200
        assert health.json() == {"database": "ok", "cache": "ok"}
        for _ in range(10):  # spread over both uvicorn workers by the kernel
            assert httpx.get(f"http://127.0.0.1:{app_port}/healthz").status_code == 200
        scrape = httpx.get(f"http://127.0.0.1:{app_port}/metrics").text
        assert healthz_count(scrape) == 11  # one worker answers, counting both
        docs = wait_for(f"http://127.0.0.1:{docs_port}/")
        assert docs.status_code == 200
        assert "Fashionistar Field Guide" in docs.text
        everything = descendants(process.pid)
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    assert wait_gone(everything) == []
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert (data_dir / "secret_key").exists()
    shutil.rmtree(data_dir)


def test_local_secret_key_is_made_once(tmp_path: Path) -> None:
    first = local_secret_key(tmp_path / "data")
    assert len(first) > 40
    assert local_secret_key(tmp_path / "data") == first


@pytest.mark.django_db
def test_demo_load_is_idempotent(django_user_model) -> None:
    assert demo_load() == {"users": 1, "categories": 3, "products": 6}
    assert demo_load() == {"users": 0, "categories": 0, "products": 0}
    assert django_user_model.objects.get(username=DEMO_USERNAME).check_password("fashionistar-demo")
