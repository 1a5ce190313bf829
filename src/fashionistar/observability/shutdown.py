"""Write what is still buffered before a process ends without its exit handlers.

RQ's forking worker runs each task in a child that leaves with ``os._exit()``: no ``atexit``
handler runs there, so log lines still queued in :class:`~.logging.NonBlockingHandler` and
spans still waiting in the batch span processor would be lost. The worker calls :func:`flush`
at the end of each task run in the child.
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider


def flush(*, timeout_seconds: float = 5.0) -> None:
    """Write queued log lines and export finished spans now.

    Args:
        timeout_seconds: How long the span export may take.
    """
    flush_logs()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush(int(timeout_seconds * 1000))


def flush_logs() -> None:
    """Wait until every log line queued so far is written."""
    for handler in logging.getLogger().handlers:
        handler.flush()
