"""Fixtures shared across the tests: a headless Chromium, task settings and a mailbox, and the
shop run as its image runs it.

Both are started once for the run.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import cache
from django.test import TransactionTestCase

from fashionistar_dev.processes import free_port
from fashionistar_dev.router import routed_shop_commands
from fashionistar_dev.stack.binaries import apt_install
from fashionistar_dev.testing.database import delete_every_row
from tests.middleware_chain import thread_hops  # noqa: F401  # a fixture
from tests.processes import spawn, stop
from tests.production import (
    Production,
    dockerfile_stage,
    production_environment,
    runtime_stage,
)
from tests.site.devtools import Browser, headless_chromium

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_PACKAGES = ("chromium", "chromium-driver")


def find_chromium() -> str | None:
    """Path of the Chromium binary, if one is installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    """A Chromium binary: installed with apt-get when missing and we are root, else a skip."""
    binary = find_chromium()
    if binary is None and apt_install(CHROMIUM_PACKAGES):
        binary = find_chromium()
    if binary is None:
        pytest.skip(
            "Chromium is not installed and this is not root: install the Debian packages "
            f"{' '.join(CHROMIUM_PACKAGES)} to run the browser tests"
        )
    return binary


@pytest.fixture(scope="session")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One headless Chromium with one page, for every browser test of the run."""
    with headless_chromium(chromium, tmp_path_factory.mktemp("chromium-profile")) as browser:
        yield browser


# --- tasks: short retries, a real SMTP server ---------------------------------------------


@pytest.fixture
def fast_retries(settings, clean_redis) -> dict[str, Any]:
    """Retries after 0 s, so a burst worker runs every attempt at once."""
    tasks = {**settings.TASKS["default"]}
    tasks["OPTIONS"] = {
        **tasks["OPTIONS"],
        "RETRY": {queue: {"max": 3, "intervals": [0]} for queue in tasks["QUEUES"]},
        "SWEEP_AFTER_S": 0,
    }
    settings.TASKS = {"default": tasks}
    return tasks


@pytest.fixture
def mailbox(settings) -> Iterator[list[Any]]:
    """A real SMTP server (aiosmtpd) on a free port; the list fills with what it receives."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received: list[Any] = []

    class Collect(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    smtp_log = logging.getLogger("mail.log")  # a line per SMTP command, late, from its thread
    level = smtp_log.level
    smtp_log.setLevel(logging.WARNING)
    controller = Controller(Collect(), hostname="127.0.0.1", port=free_port())
    controller.start()
    # Django's test set-up swaps every mailer for the in-memory one: put the real ones back.
    settings.MAILERS = {
        "default": {"BACKEND": "fashionistar.tasks.email.TaskEmailBackend"},
        "smtp": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": controller.port, "timeout": 5},
        },
    }
    yield received
    controller.stop()
    smtp_log.setLevel(level)


# --- the production rehearsal: the image's dependencies, settings and command, on this stack ---


@pytest.fixture(scope="module")
def shop_server(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[str]:
    """The shop as the deploy files run it, on the run's stack: its router's URL.

    The WSGI and the ASGI server commands on free ports, and nginx in front of them with the
    deploy files' server block (``/api/async/`` to the ASGI server).
    """
    from tests.processes import wait_until_up  # imports models: Django first

    port = free_port()
    commands = routed_shop_commands(folder=tmp_path_factory.mktemp("router"), port=port)
    servers = [spawn(command) for command in commands.values()]
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base_url}/healthz")
        wait_until_up(f"{base_url}/api/async/catalog/products")
        yield base_url
    finally:
        for server in reversed(servers):
            stop(server)


@pytest.fixture(scope="session")
def production(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None
) -> Iterator[Production]:
    """Build and start the shop as ``deploy/Dockerfile`` does, without Docker, on the stack.

    The build stage's ``uv sync --frozen --no-dev --no-editable`` into a fresh environment, with
    that stage's ``ENV`` (bytecode compiled at install, as the runtime stage's processes never
    write it); the runtime stage's ``manage.py``, ``ENV`` and ``RUN`` (``collectstatic``); then
    its ``CMD``, against the run's database, migrated first (as a deploy's migration job does).
    """
    root = tmp_path_factory.mktemp("production")
    venv, app = root / "venv", root / "app"
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build the production environment (make runs the tests with it)"
    build_env, _, _ = dockerfile_stage("build")
    # Hard links from uv's cache where the image copies (its cache is another layer's).
    build_env |= {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_LINK_MODE": "hardlink"}
    subprocess.run(
        [uv, "sync", "--frozen", "--no-dev", "--no-editable", "--quiet"],
        cwd=ROOT, env={**os.environ, **build_env}, check=True,
    )  # fmt: skip
    app.mkdir()
    shutil.copy2(ROOT / "manage.py", app / "manage.py")
    image_env, runs, cmd = runtime_stage()
    env = production_environment(venv, app, image_env)
    for run in runs:
        if "manage.py" in run:
            subprocess.run(["sh", "-c", run], cwd=app, env=env, check=True)
    production = Production(venv=venv, app=app, env=env, command=cmd)
    with production.server() as production.url:
        yield production


# --- the order in which parallel workers take the test files --------------------------------

SLOW_FIRST = (
    "tests/benchmarks/test_harness.py",
    "tests/hostile/test_schemathesis.py",
    "tests/site/test_workshop.py",
    "tests/dev/test_serve.py",
    "tests/tasks/test_failover.py",
    "tests/site/test_browser.py",
    "tests/deploy/test_production.py",
)
"""The longest files: a parallel run hands them out first, so none of them starts last."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest test files first (pytest-xdist's ``loadfile`` keeps this order)."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return SLOW_FIRST.index(path) if path in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)


THROTTLE_CLOCK = 1_800_000_030.0
"""Half a minute into a minute, an hour and a day: no throttle window ends during a test."""


@pytest.fixture
def fresh_throttles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Empty Redis (throttle counters of both APIs) before and after the test.

    The throttles' windows are aligned to the clock: a test's requests could fall on both sides
    of a window's end and be counted apart. The throttles read a clock that stands still instead.
    """
    from fashionistar.kernel import apis

    monkeypatch.setattr(apis, "time", SimpleNamespace(time=lambda: THROTTLE_CLOCK))
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def fresh_catalog_cache() -> None:
    """No test reads a catalog answer another test cached: the catalog's version moves on."""
    from fashionistar.catalog.services import catalog_changed

    catalog_changed()


@pytest.fixture(scope="session", autouse=True)
def transactional_tests_delete_their_rows() -> Iterator[None]:
    """End each transactional test with :func:`delete_every_row` instead of Django's flush.

    The flush truncates every table, then runs the post_migrate handlers, which write every
    content type and permission again: several times the cost of deleting the few rows a test
    wrote, a thousand times a run. The catalog's own post_migrate handler is not missed:
    :func:`fresh_catalog_cache` moves the catalog on before every test.
    """
    flush = TransactionTestCase._fixture_teardown

    def teardown(test_case: TransactionTestCase) -> None:
        if test_case.available_apps is not None or test_case.serialized_rollback:
            flush(test_case)  # what those need the flush for is left to it
            return
        for alias in test_case._databases_names(include_mirrors=False):
            delete_every_row(using=alias)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", teardown)
        yield


@pytest.fixture
def alice():
    from tests.factories import make_user  # models: after django.setup()

    return make_user("alice")


@pytest.fixture
def bob():
    from tests.factories import make_user

    return make_user("bob")


@pytest.fixture
def dress():
    from tests.factories import make_product

    return make_product(name="Dress", price="89.00", stock=5, sizes=("S", "M"))
