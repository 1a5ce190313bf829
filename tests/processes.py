"""Child processes of a test (servers, workers): started in their own session, always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def spawn(args: list[str], log: Path | None = None, **env: str) -> subprocess.Popen[bytes]:
    """A child of the test in its own session, on the run's stack.

    Its output (warnings and errors) goes to ``log``, or nowhere.
    """
    with open(log or os.devnull, "wb") as output:  # the child holds its own copy
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING", **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def spawn_worker(*queues: str, log: Path | None = None, **env: str) -> subprocess.Popen[bytes]:
    """``manage.py run_worker``, with maintenance and heartbeats every second."""
    return spawn(
        [sys.executable, "manage.py", "run_worker", *queues],
        log,
        TASK_WORKER_MONITORING_S="1",
        TASK_WORKER_MAINTENANCE_S="1",
        **env,
    )


def wait_for(
    condition: Callable[[], object],
    timeout_s: float,
    *,
    errors: tuple[type[BaseException], ...] = (),
    interval_s: float = 0.1,
) -> float:
    """Poll ``condition`` until it is true (a raise of one of ``errors`` counts as not yet).

    The one way the tests wait for a process or a port: with a deadline, never a fixed sleep.

    Returns:
        The seconds it took.

    Raises:
        TimeoutError: Still not true after ``timeout_s``.
    """
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except errors:
            pass
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"not true after {timeout_s} s: {condition}")
        time.sleep(interval_s)


def stop(process: subprocess.Popen[bytes], timeout_s: float = 20) -> int:
    """SIGTERM, and the exit code; a child still running after ``timeout_s`` fails the test.

    Its whole session is SIGKILLed first, so a stuck child does not outlive the test.
    """
    process.terminate()
    try:
        return process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    """The processes still alive after ``timeout`` (none, as soon as they are all gone)."""
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: not any(alive(pid) for pid in pids), timeout_s=timeout)
    return [pid for pid in pids if alive(pid)]


def child_pids(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().split(")")[-1].split()
            except FileNotFoundError:
                continue
            if int(fields[1]) == parent:
                children.append(int(entry.name))
    return children


def wait_until_up(url: str, timeout: float = 60) -> None:
    wait_for(lambda: httpx.get(url, timeout=2).status_code == 200, timeout,
             errors=(httpx.TransportError,))  # fmt: skip


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
