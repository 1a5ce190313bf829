"""System check: no handler chain of the event registry may loop."""

from __future__ import annotations

from typing import Any

from django.core import checks

from fashionistar.events.bus import Registry, connected, handler_loops


def check_handler_loops(
    app_configs: Any = None, *, registry: Registry | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Fail ``manage.py check`` (and every start) when handlers publish events in a loop.

    Args:
        app_configs: Django's (unused).
        registry: The handlers to check (the connected ones by default).
        **kwargs: Django's (unused).

    Returns:
        One error per loop.
    """
    return [
        checks.Error(
            f"event handlers loop: {' -> '.join(loop)}",
            hint="A handler must not publish, directly or not, the event it handles.",
            id="fashionistar.E001",
        )
        for loop in handler_loops(connected() if registry is None else registry)
    ]
