"""What every command that starts processes does to stop them all, whatever stops it.

A child started by our commands gets a parent-death signal (:func:`die_with_parent`), so even
a parent killed with SIGKILL leaves nothing behind. The command itself turns SIGINT, SIGTERM
and SIGHUP into one ``KeyboardInterrupt`` (:func:`stopped_by_signals`), so its clean-up runs
once, whichever arrives and however often, and it stops when the job that started it is gone
(:func:`job_leader_gone`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


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
