"""The processes the dev tooling starts: ports for them, starting, waiting, and stopping them all.

A child started here runs in its own session and gets a parent-death signal
(:func:`die_with_parent`), so even a parent killed with SIGKILL leaves nothing behind; it is
stopped with its own shutdown signal, and whatever it left in its session is killed too
(:meth:`Service.stop`). A command turns SIGINT, SIGTERM and SIGHUP into one
``KeyboardInterrupt`` (:func:`stopped_by_signals`), so its clean-up runs once, whichever arrives
and however often, and it stops when the job that started it is gone (:func:`job_leader_gone`).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pwd
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Literal

import psycopg
import redis

PR_SET_PDEATHSIG = 1
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


Interface = Literal["wsgi", "asgi"]
SHOP_APPLICATIONS: dict[Interface, str] = {
    "wsgi": "fashionistar.project.wsgi:application",
    "asgi": "fashionistar.project.asgi:application",
}
SHOP_PORTS: dict[Interface, int] = {"wsgi": 8000, "asgi": 8001}
"""The port of each server in the deploy files (two containers of one pod need two)."""
ASYNC_API_PREFIX = "/api/async/"
"""What the router sends to the ASGI server; everything else goes to the WSGI server."""
WSGI_THREADS = 4
"""Threads of each WSGI worker process: requests at once, each with its database connection."""


def shop_server_args(
    *, interface: Interface, host: str, port: int, application: str | None = None
) -> list[str]:
    """The arguments of a shop server command of the deploy files after ``granian`` itself.

    The shop runs as two servers of one image, behind a router that sends ``/api/async/`` to
    the ASGI one: Django REST Framework, the admin and the pages under WSGI (``wsgi``, the
    image's default command), each worker with :data:`WSGI_THREADS` threads; django-ninja's
    async API under ASGI on uvloop, without WebSockets (the shop has none) and without ASGI's
    lifespan protocol (granian's ``asginl``: Django does not speak it, and granian would log a
    warning at each worker's start). Either
    gives a worker 20 s to finish its requests after SIGTERM. The number of worker processes
    comes from ``GRANIAN_WORKERS`` (the image sets 1) or ``--workers``.

    Args:
        interface: ``wsgi`` or ``asgi``.
        host: The address to listen on.
        port: The port.
        application: ``module:attribute`` of another application than the shop's (the
            benchmarks wrap the shop's).

    Returns:
        The arguments.
    """
    if interface == "wsgi":
        options = ["--interface", "wsgi", "--blocking-threads", str(WSGI_THREADS)]
    else:
        options = ["--interface", "asginl", "--loop", "uvloop", "--no-ws"]
    return [
        *options, "--host", host, "--port", str(port), "--workers-kill-timeout", "20",
        application or SHOP_APPLICATIONS[interface],
    ]  # fmt: skip


def shop_server_command(*, interface: Interface, port: int, workers: int = 1) -> list[str]:
    """A server command of the deploy files on a loopback port, run by this interpreter.

    Args:
        interface: ``wsgi`` or ``asgi``.
        port: The port.
        workers: Worker processes.

    Returns:
        The command line.
    """
    return [
        sys.executable, "-m", "granian", "--workers", str(workers),
        *shop_server_args(interface=interface, host="127.0.0.1", port=port),
    ]  # fmt: skip


class StartError(RuntimeError):
    """A process exited at start or did not answer in time; the message ends with its log."""


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """Ask Linux to send this process ``sig`` when its parent exits (``PR_SET_PDEATHSIG``).

    Linux sends it when the *thread* that started this process ends: start children from a
    thread that lives as long as they should (the main thread). Other systems have no such
    call: there, nothing happens.

    Args:
        sig: The signal.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    # The first signal starts the clean stop; more (uv forwards the one its group got) must
    # not interrupt it halfway.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise KeyboardInterrupt


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Turn SIGINT, SIGTERM and SIGHUP into one ``KeyboardInterrupt`` inside.

    Our parent's death sends us SIGTERM too.

    Yields:
        Nothing; a ``KeyboardInterrupt`` arrives on the first of them.
    """
    die_with_parent(signal.SIGTERM)
    previous = {sig: signal.signal(sig, _interrupt_once) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def job_leader_gone() -> bool:
    """Tell whether the process that leads our job (``make`` at a shell) has exited.

    A signal sent to ``make`` alone does not reach the commands it started; its exit is seen
    here.

    Returns:
        ``True`` when our process group's leader no longer exists.
    """
    try:
        os.kill(os.getpgrp(), 0)
    except ProcessLookupError:
        return True
    return False


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PORT = 20000
"""Ports handed out start here: above the usual services' ports, below Linux's ephemeral range."""


def _outside_ephemeral_range() -> list[int]:
    """Loopback ports the kernel never gives an outgoing connection, in random order.

    A port that the kernel picked for ``bind(("127.0.0.1", 0))`` comes from the ephemeral range,
    where every outgoing connection of this machine also takes its source port: between the
    moment it is released and the moment a server binds it, a connection of the test run (to
    PostgreSQL, Redis, a server) can take it, and the server fails with "Address already in
    use". Ports below that range are only ever taken on purpose.

    Returns:
        The ports from :data:`LOWEST_PORT` to the ephemeral range, shuffled (several processes
        choose at once); empty when the range leaves none.
    """
    try:
        first_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return []
    ports = list(range(LOWEST_PORT, first_ephemeral))
    random.shuffle(ports)
    return ports


def free_port() -> int:
    """Ask for a free loopback port.

    Returns:
        A port number that was free a moment ago.
    """
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Find several distinct free loopback ports, outside the ephemeral range when it allows.

    Args:
        count: How many.

    Returns:
        Port numbers that were free (and different from each other) a moment ago.
    """
    candidates = iter(_outside_ephemeral_range())
    with contextlib.ExitStack() as held:
        ports: list[int] = []
        while len(ports) < count:
            sock = held.enter_context(socket.socket())
            port = next(candidates, 0)  # 0: let the kernel choose (no range left)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken
            ports.append(int(sock.getsockname()[1]))
        return ports


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve an HTTP handler on a free loopback port, in a thread of this process.

    For the small servers that tests and benchmarks stand in for an outside party with (a
    partner's canned answer, an OTLP collector).

    Args:
        handler: The handler class.

    Yields:
        The server's base URL.
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Service:
    """One server process of the stack."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None
    stop_signal: signal.Signals

    def log_tail(self, lines: int = 20) -> str:
        """Return the end of the service's log, for error messages.

        Args:
            lines: How many lines.

        Returns:
            The last lines of the log (none when its output went to ours).
        """
        if self.log_path is None:
            return ""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Stop the process: its own shutdown signal first, SIGKILL if it hangs.

        What it started and left behind in its session (a worker's child, say) is killed too.
        """
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def chown_to(path: Path, user: pwd.struct_passwd | None) -> None:
    """Give a path to the service user (a no-op when we are not root).

    Args:
        path: The file or folder.
        user: The service user, or ``None``.
    """
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def service_dir(root: Path, name: str, user: pwd.struct_passwd | None) -> Path:
    """Make (or reuse) a private folder under ``root`` that the service user owns.

    Args:
        root: The stack's folder.
        name: The folder's name.
        user: The service user, or ``None``.

    Returns:
        The folder.
    """
    path = root / name
    path.mkdir(mode=0o700, exist_ok=True)
    chown_to(root, user)
    chown_to(path, user)
    return path


def spawn_service(
    *,
    root: Path,
    user: pwd.struct_passwd | None,
    name: str,
    args: list[str],
    stop_signal: signal.Signals,
    as_service_user: bool = True,
    death_signal: signal.Signals | None = None,
    to_log_file: bool = True,
    env: dict[str, str] | None = None,
) -> Service:
    """Start one server as a child in its own session, logging to ``root/logs/<name>.log``.

    The child gets ``stop_signal`` when its parent dies (:func:`die_with_parent`).

    Args:
        root: The stack's folder; also the child's working directory.
        user: The service user, or ``None`` to run as ourselves.
        name: The service's name (and log file's).
        args: The program and its arguments.
        stop_signal: The signal that shuts the server down cleanly.
        as_service_user: ``False`` runs our own code as the current user.
        death_signal: The signal the child gets when we die; ``stop_signal`` by default.
            A process that may be stopped (SIGSTOP) needs SIGKILL: it ignores others until
            it is continued.
        to_log_file: ``False`` leaves the child's output on our standard output.
        env: The child's environment; ours by default.

    Returns:
        The started service.
    """
    log_path = service_dir(root, "logs", user) / f"{name}.log" if to_log_file else None
    drop = as_service_user and user is not None
    uid = user.pw_uid if drop and user else None
    gid = user.pw_gid if drop and user else None
    with open(log_path or os.devnull, "ab") as log:
        if log_path:
            chown_to(log_path, user)
        process = subprocess.Popen(
            args,
            stdout=log if to_log_file else None,
            stderr=subprocess.STDOUT if to_log_file else None,
            stdin=subprocess.DEVNULL,
            user=uid,
            group=gid,
            extra_groups=[] if drop else None,
            start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, death_signal or stop_signal),
            cwd=root,
            env=env,
        )
    return Service(name=name, process=process, log_path=log_path, stop_signal=stop_signal)


STARTING_ERRORS: tuple[type[Exception], ...] = (OSError, psycopg.Error, redis.RedisError)
"""What a server's probe raises while it is still starting."""


def accepts(port: int) -> None:
    """Raise unless something accepts connections on a loopback port.

    Args:
        port: The port.
    """
    socket.create_connection(("127.0.0.1", port), timeout=2).close()


def wait_ready(
    service: Service,
    probe: Callable[[], object],
    *,
    timeout: float = READY_TIMEOUT_S,
    errors: tuple[type[Exception], ...] = STARTING_ERRORS,
) -> None:
    """Call ``probe`` until it stops raising, or fail with the end of the service's log.

    Args:
        service: The service being started.
        probe: A call that raises one of ``errors`` until the service is ready.
        timeout: Seconds to wait.
        errors: What the probe raises while the service starts.

    Raises:
        StartError: The process exited, or it was not ready in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        if service.process.poll() is not None:
            raise StartError(f"{service.name} exited at start:\n{service.log_tail()}")
        try:
            probe()
            return
        except errors as error:
            if time.monotonic() > deadline:
                raise StartError(
                    f"{service.name} not ready after {timeout:.0f} s ({error}):\n"
                    f"{service.log_tail()}"
                ) from error
            time.sleep(0.05)
