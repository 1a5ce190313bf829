"""The production rehearsal: the image's dependency set, settings and server command, for real.

``production`` (``tests/conftest.py``) installs only the production dependencies into an
environment of their own, lays out the image's ``/app`` and starts the image's ``CMD`` against
this run's stack. These tests are what an operator does next: check, migrate, create the smoke
user, start a worker and the async API's server the way Compose does, the router in front, and
run the smoke command against the router.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from fashionistar_dev.demo.load import demo_load
from tests.processes import ROOT
from tests.production import BEHIND_TLS_PROXY, Production

SMOKE_PASSWORD = secrets.token_urlsafe(16)
COMPOSE = ROOT / "deploy" / "docker-compose.yml"


def test_check_deploy_is_clean(production: Production) -> None:
    result = production.manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_migrate_needs_no_development_dependency(production: Production, django_db_setup) -> None:
    # The run's database is migrated (django_db_setup): the image's command finds nothing to do.
    result = production.manage("migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    assert "No migrations to apply." in result.stdout


def test_the_package_that_ships_holds_no_dev_tooling(production: Production) -> None:
    (site_packages,) = production.venv.glob("lib/python*/site-packages")
    shipped = {path.name for path in (site_packages / "fashionistar").iterdir()}
    assert {"catalog", "orders", "project", "kernel", "templates", "static"} <= shipped
    assert (site_packages / "fashionistar" / "project" / "settings_production.py").is_file()
    assert not {"stack", "testing", "serve.py", "demo.py"} & shipped
    assert not list(site_packages.glob("fashionistar_dev*"))
    for tool in ("django_migration_linter", "pytest", "testcontainers", "mkdocs"):
        assert not list(site_packages.glob(f"{tool}*")), tool


def compose_command(service: str) -> list[str]:
    """The command of a Compose service: ``worker-critical`` runs the smoke test's echo task."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    return list(services[service]["command"])


@pytest.fixture
def critical_worker(production: Production) -> Iterator[None]:
    worker = subprocess.Popen(
        compose_command("worker-critical"),
        cwd=production.app,
        env=production.env,
        start_new_session=True,
    )
    try:
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=60)


@pytest.mark.django_db(transaction=True)
def test_the_smoke_command_passes_through_the_router_in_front_of_both_servers(
    production: Production, critical_worker: None, tmp_path: Path
) -> None:
    demo_load()
    created = production.manage(
        "createsuperuser", "--noinput", "--username", "smoke", "--email", "smoke@example.com",
        DJANGO_SUPERUSER_PASSWORD=SMOKE_PASSWORD,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    headers = [arg for name, value in BEHIND_TLS_PROXY.items() for arg in ("--header",
               f"{name}: {value}")]  # fmt: skip
    with production.routed(compose_command("app-async"), tmp_path) as url:
        smoke = subprocess.run(
            ["python", "-m", "fashionistar.ops.smoke", "--base-url", url, *headers],
            cwd=production.app,
            env={**production.env, "SMOKE_USERNAME": "smoke", "SMOKE_PASSWORD": SMOKE_PASSWORD},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    sys.stdout.write(smoke.stdout)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert smoke.stdout.count("  PASS  ") == 5
