"""Exercise 15: readiness names each dependency within its limit; the probes ask the right views."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from django.db import connection
from django.test import Client
from django.urls import path

from fashionistar.project.health import livez
from fashionistar_dev.processes import free_port

PARTICIPANT_FILE = "probes.py"
PROBES_FILE = "web-probes.yaml"


@pytest.fixture
def urls(participant, serve_urls) -> None:
    serve_urls([path("readyz", participant.ready), path("livez", livez)])


def readiness() -> tuple[int, dict, float]:
    started = time.monotonic()
    response = Client().get("/readyz")
    return response.status_code, response.json(), time.monotonic() - started


@pytest.mark.django_db
@pytest.mark.usefixtures("urls")
def test_with_postgres_and_redis_up_it_is_ready() -> None:
    status, body, _ = readiness()
    assert (status, body) == (200, {"database": "ok", "redis": "ok"}), (
        f"answered {status} {body}: the answer must name each check"
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("urls")
def test_a_hung_redis_makes_it_unready_within_two_seconds(settings, silent_port) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{silent_port}/0"
    status, body, seconds = readiness()
    assert seconds < 2, "a hung Redis held the probe: give each check a time limit"
    assert status == 503, f"Redis does not answer, yet readiness answered {status}"
    assert body.get("database") == "ok"
    assert body.get("redis", "").startswith("error: ")


@pytest.mark.django_db
@pytest.mark.usefixtures("urls")
def test_a_database_nobody_can_reach_makes_it_unready(monkeypatch) -> None:
    connection.ensure_connection()  # this process's connection still works...
    monkeypatch.setitem(connection.settings_dict, "PORT", str(free_port()))  # ...new ones fail
    status, body, _ = readiness()
    assert status == 503, f"no new connection can be opened, yet readiness answered {status}"
    assert body.get("database", "").startswith("error: ")
    assert body.get("redis") == "ok"


def test_liveness_asks_the_process_and_readiness_its_dependencies(exercise_files: Path) -> None:
    probes = yaml.safe_load((exercise_files / PROBES_FILE).read_text())
    liveness, readiness = probes["livenessProbe"], probes["readinessProbe"]
    assert liveness["httpGet"]["path"] == "/livez", (
        f"liveness asks {liveness['httpGet']['path']}: a database outage would restart every pod"
    )
    assert readiness["httpGet"]["path"] == "/readyz"
    assert readiness.get("timeoutSeconds", 1) > 1, "the probe gives up before the checks do"
