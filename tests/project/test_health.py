from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from django.test import Client

from fashionistar.project.health import READY_TIMEOUT_SECONDS
from fashionistar.tasks.worker import make_worker
from fashionistar_dev.processes import free_port
from tests.tasks.sample_tasks import add


def test_livez_checks_nothing_outside_the_process(settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/livez")  # no database access allowed here either
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_reports_database_and_cache() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_healthz_names_the_failing_part(settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "ok"
    assert response.json()["cache"].startswith("error: ")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers: a hung server."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


@pytest.mark.django_db
def test_readyz_reports_postgres_and_redis() -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "redis": "ok"}


@pytest.mark.django_db
def test_readyz_names_a_hung_redis_within_its_timeout(settings, silent_port) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{silent_port}/0"
    started = time.perf_counter()
    response = Client().get("/readyz")
    elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "redis": "error: TimeoutError"}
    assert elapsed < READY_TIMEOUT_SECONDS + 1


@pytest.mark.django_db
def test_readyz_names_a_hung_database_within_its_timeout(monkeypatch, silent_port) -> None:
    monkeypatch.setitem(connection.settings_dict, "PORT", silent_port)
    started = time.perf_counter()
    response = Client().get("/readyz")
    elapsed = time.perf_counter() - started
    assert response.status_code == 503
    assert response.json() == {"database": "error: TimeoutError", "redis": "ok"}
    assert elapsed < READY_TIMEOUT_SECONDS + 1


@pytest.mark.django_db
def test_readyz_names_a_refused_database(monkeypatch) -> None:
    monkeypatch.setitem(connection.settings_dict, "PORT", free_port())
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"database": "error: OperationalError", "redis": "ok"}


@pytest.mark.django_db(transaction=True)  # a task reaches Redis when its transaction commits
def test_healthz_tasks_says_which_queue_is_not_served(clean_redis, settings) -> None:
    assert Client().get("/healthz/tasks").status_code == 200  # nothing waits: all served

    add.enqueue(a=1, b=2)  # the critical queue, and no worker
    unserved = Client().get("/healthz/tasks")
    assert unserved.status_code == 503
    critical = unserved.json()["queues"]["critical"]
    assert (critical["depth"], critical["workers"]) == (1, 0)
    assert critical["status"] == "error: no worker"
    assert unserved.json()["queues"]["emails"]["status"] == "ok"

    make_worker(queues=["critical"]).register_birth()  # a live worker, as RQ records one
    assert Client().get("/healthz/tasks").status_code == 200
    settings.TASK_HEALTH_MAX_WAIT_S = 0.0  # the job has waited longer than that
    behind = Client().get("/healthz/tasks")
    assert (behind.status_code, behind.json()["queues"]["critical"]["status"]) == (
        503,
        "error: falling behind",
    )


def test_healthz_tasks_without_redis_is_503(settings) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = Client().get("/healthz/tasks")
    assert (response.status_code, response.json()) == (503, {"redis": "error: ConnectionError"})
