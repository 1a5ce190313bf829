"""System check: no handler chain of the event registry may loop."""

from __future__ import annotations

from typing import Any

from django.core import checks

from fashionistar.events.bus import Registry, handler_loops


def check_handler_loops(
    app_configs: Any = None, *, registry: Registry | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Fail ``manage.py check`` (and every start) when handlers publish events in a loop.

    Args:
        app_configs: Django's (unused).
        registry: The handlers to check (the project's registry by default).
        **kwargs: Django's (unused).

    Returns:
        One error per loop.
    """
    if registry is None:
        from fashionistar.events.registry import HANDLERS

        registry = HANDLERS
    return [
        checks.Error(
            f"event handlers loop: {' -> '.join(loop)}",
            hint="A handler must not publish, directly or not, the event it handles.",
            id="fashionistar.E001",
        )
        for loop in handler_loops(registry)
    ]
