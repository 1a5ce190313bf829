"""Stop and start the native stack's PostgreSQL or PgBouncer for real, and time the way back.

The native stack (:mod:`fashionistar_dev.stack.native`) owns its servers as child processes. A
restart here keeps it that way: the old process is stopped (PostgreSQL with ``pg_ctl stop -m
fast``, as the service user; PgBouncer with its own shutdown signal), then the same command line
is started again with :func:`~fashionistar_dev.stack.native.spawn_service` and put in the stack's
place, so that the stack still stops it at the end (and its parent-death signal still holds).
Call these from the main thread: Linux sends the parent-death signal when the *thread* that
started a child ends.

Used by ``tests/faults`` and ``benchmarks/faults.py``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from fashionistar_dev.processes import Service, spawn_service, wait_ready
from fashionistar_dev.stack.native import NativeStack

POSTGRES = "postgres"
PGBOUNCER = "pgbouncer"


def _service(stack: NativeStack, name: str) -> Service:
    return next(service for service in stack.services if service.name == name)


def _stop(stack: NativeStack, service: Service) -> None:
    if service.name != POSTGRES:
        service.stop()
        return
    args = [str(arg) for arg in service.process.args]  # type: ignore[union-attr]
    data_dir = args[args.index("-D") + 1]
    pg_ctl = str(Path(stack.binaries.postgres).with_name("pg_ctl"))
    subprocess.run(
        [pg_ctl, "-D", data_dir, "stop", "-m", "fast", "-w", "-t", "30"],
        check=True,
        capture_output=True,
        user=stack.user.pw_uid if stack.user else None,
        group=stack.user.pw_gid if stack.user else None,
    )
    service.process.wait(timeout=30)


def _probe_url(stack: NativeStack, name: str) -> str:
    url = stack.urls.direct_database_url if name == POSTGRES else stack.urls.database_url
    assert url is not None
    return url


def service_start(*, stack: NativeStack, service: Service) -> Service:
    """Start a stopped service again with its command line, and wait until it answers.

    Args:
        stack: The native stack that ran it.
        service: The stopped service.

    Returns:
        The new service, in the old one's place in ``stack.services``.
    """
    started = spawn_service(
        root=stack.root,
        user=stack.user,
        name=service.name,
        args=[str(arg) for arg in service.process.args],  # type: ignore[union-attr]
        stop_signal=service.stop_signal,
    )
    stack.services[stack.services.index(service)] = started
    url = _probe_url(stack, service.name)
    wait_ready(started, lambda: psycopg.connect(url, connect_timeout=2).close())
    return started


@contextmanager
def service_down(*, stack: NativeStack, name: str) -> Iterator[Service]:
    """Stop a server for the duration of a ``with`` block, then start it again.

    Args:
        stack: The native stack.
        name: ``"postgres"`` or ``"pgbouncer"``.

    Yields:
        The stopped service.
    """
    service = _service(stack, name)
    _stop(stack, service)
    try:
        yield service
    finally:
        service_start(stack=stack, service=service)


def service_restart(*, stack: NativeStack, name: str, down_s: float) -> float:
    """Stop a server, leave it down for ``down_s`` seconds, start it, and time the start.

    Args:
        stack: The native stack.
        name: ``"postgres"`` or ``"pgbouncer"``.
        down_s: How long it stays down.

    Returns:
        Seconds from the start command until the server answered a connection.
    """
    with service_down(stack=stack, name=name):
        time.sleep(down_s)
        started = time.monotonic()
    return time.monotonic() - started
