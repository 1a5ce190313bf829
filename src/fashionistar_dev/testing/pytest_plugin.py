"""pytest plugin: a throwaway stack for the whole run, Django on top of it, docs pages as tests.

Loaded from the root ``conftest.py``. It starts PostgreSQL, PgBouncer and Redis before Django
reads its settings, points Django at them through the environment, and stops them when the run
ends: after a failure and after Ctrl-C too (pytest runs its clean-ups then).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path

import django
import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from pytest_django.plugin import DjangoDbBlocker

from fashionistar.observability.logging import NonBlockingHandler
from fashionistar.observability.shutdown import flush_logs
from fashionistar_dev.stack import RunningStack, start_stack
from fashionistar_dev.testing.docs import docs_sybil

STACK_KEY = pytest.StashKey[RunningStack]()
STARTED_IN_KEY = pytest.StashKey[float]()
COLLECT_DOCS_KEY = pytest.StashKey[Callable[[Path, pytest.Collector], pytest.Collector | None]]()


def runs_no_tests(config: pytest.Config) -> bool:
    """Tell whether this process only hands tests to pytest-xdist's workers.

    Each worker starts a stack and Django of its own; the process that distributes the tests
    needs neither.

    Args:
        config: pytest's configuration.

    Returns:
        ``True`` in the controller of a parallel run.
    """
    return bool(getattr(config.option, "numprocesses", None)) and not hasattr(config, "workerinput")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Run one worker more than there are cores for ``-n auto``.

    Many tests spend seconds waiting on a subprocess (a server starting, a worker stopping, a
    browser loading a page): with a worker per core, a core sits idle meanwhile.

    Args:
        config: pytest's configuration.

    Returns:
        The number of workers (``--maxprocesses`` still caps it).
    """
    return len(os.sched_getaffinity(0)) + 1


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Start the stack and point Django at it, before pytest-django sets Django up.

    Args:
        config: pytest's configuration.
    """
    if config.option.help or config.option.version or runs_no_tests(config):
        return
    config.stash[COLLECT_DOCS_KEY] = docs_sybil(
        docs_dir=config.rootpath / "docs", fixtures=("docs_page",)
    ).pytest()
    started = time.perf_counter()
    stack = start_stack()
    if hasattr(config, "workerinput") and stack.provider == "env":
        stack.stop()
        raise pytest.UsageError(
            "parallel test workers each start a stack of their own: unset DATABASE_URL and "
            "REDIS_URL, or run the tests in one process (-n 0)"
        )
    config.stash[STARTED_IN_KEY] = time.perf_counter() - started
    config.stash[STACK_KEY] = stack
    config.add_cleanup(stack.stop)
    os.environ.update(stack.urls.environ())
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.project.settings")
    # An empty folder: no test needs collected static files (make serve and the production
    # rehearsal collect their own), but the ASGI and WSGI entry points want the folder.
    static_root = Path(tempfile.mkdtemp(prefix="fashionistar-static-"))
    config.add_cleanup(lambda: shutil.rmtree(static_root, ignore_errors=True))
    os.environ.setdefault("DJANGO_STATIC_ROOT", str(static_root))
    django.setup()
    # A slow password hash protects production; tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Write a test phase's queued log lines while pytest still captures its output.

    The writer thread would otherwise print them between phases, onto the terminal.

    Args:
        item: The test.

    Yields:
        To the phase.
    """
    try:
        return (yield)
    finally:
        flush_logs()


pytest_runtest_setup = pytest_runtest_teardown = pytest_runtest_call


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which stack the run uses.

    Args:
        config: pytest's configuration.

    Returns:
        A header line.
    """
    stack = config.stash.get(STACK_KEY, None)
    if stack is None:
        return None
    return (
        f"stack: {stack.provider}, ready in {config.stash[STARTED_IN_KEY]:.2f} s, "
        f"database through PgBouncer at {stack.urls.database_url}"
    )


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config) -> RunningStack:
    """The run's stack: its URLs (``stack.urls``) and provider.

    Args:
        pytestconfig: pytest's configuration.

    Returns:
        The running stack.
    """
    return pytestconfig.stash[STACK_KEY]


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker: DjangoDbBlocker) -> None:
    """Migrate the stack's own database: it is thrown away after the run.

    pytest-django's default would create a ``test_`` database next to it; through PgBouncer
    that database cannot be dropped at the end (PgBouncer keeps server connections to it).

    Args:
        django_db_blocker: pytest-django's database access switch.
    """
    with django_db_blocker.unblock():
        call_command("migrate", verbosity=0, interactive=False)


class _StandardError:
    """Standard error as it is when a line is written: pytest swaps it for each test."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@contextmanager
def logs_on_standard_error() -> Iterator[None]:
    """Write log lines to standard error while a docs page runs.

    A doctest compares what its statements print on standard output; a log line that the
    writer thread happens to write while the statement runs would otherwise be part of it.

    Yields:
        Nothing; log lines go to standard error inside.
    """
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, NonBlockingHandler)]
    previous = [handler.stream_handler.setStream(_StandardError()) for handler in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.stream_handler.setStream(stream)


def reset_data() -> None:
    """Empty the tables, the cache and the task queues: a page sees nothing another one wrote."""
    from fashionistar.kernel.redis_client import redis_client

    call_command("flush", verbosity=0, interactive=False)
    cache.clear()
    with redis_client() as client:
        client.flushdb()


@pytest.fixture
def clean_redis() -> Iterator[None]:
    """An empty Redis database before and after the test: no job or key of another test."""
    from fashionistar.kernel.redis_client import redis_client

    with redis_client() as client:
        client.flushdb()
        yield
        client.flushdb()


@pytest.fixture(scope="module")
def docs_page(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[None]:
    """Give a docs page the database and Redis, and wipe what it wrote when it ends.

    Sybil treats each page as a module, so this runs once per page.

    Args:
        django_db_setup: The migrated database.
        django_db_blocker: pytest-django's database access switch.

    Yields:
        Nothing; the page's blocks run inside.
    """
    with django_db_blocker.unblock(), logs_on_standard_error():
        reset_data()  # a test of another module may have left rows or jobs behind
        yield
        reset_data()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect ``docs/**/*.md`` pages as tests.

    Args:
        file_path: A file pytest found.
        parent: Its collector.

    Returns:
        A Sybil collector for a docs page, else ``None``.
    """
    collect_docs = parent.config.stash.get(COLLECT_DOCS_KEY, None)
    return collect_docs(file_path, parent) if collect_docs else None
