"""Static files served by the application itself, in front of Django.

The admin, both APIs' Swagger UI (drf-spectacular-sidecar's files and Ninja's) and the home page
need their CSS and JavaScript. ``collectstatic`` gathers them in ``STATIC_ROOT``; servestatic
answers ``/static/...`` from memory before a request reaches Django, under ASGI and WSGI alike,
with a far-future ``Cache-Control`` for the names the manifest storage hashed. No CDN, no extra
server: the pages work offline and under a strict Content Security Policy.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from servestatic import ServeStatic, ServeStaticASGI

HASHED_NAME = r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$"
"""A name ``ManifestStaticFilesStorage`` made (``base.1a2b3c4d5e6f.css``): cached for a year."""


def _options() -> dict[str, Any]:
    return {
        "root": settings.STATIC_ROOT,
        "prefix": settings.STATIC_URL,
        # With DEBUG on (make serve), look files up on each request: collectstatic may run again.
        "autorefresh": settings.DEBUG,
        "immutable_file_test": HASHED_NAME,
    }


def asgi_with_static_files(application: Any) -> ServeStaticASGI:
    """Serve ``STATIC_ROOT`` in front of an ASGI application.

    Args:
        application: Django's ASGI application.

    Returns:
        The wrapped application.
    """
    return ServeStaticASGI(application, **_options())


def wsgi_with_static_files(application: Any) -> ServeStatic:
    """Serve ``STATIC_ROOT`` in front of a WSGI application.

    Args:
        application: Django's WSGI application.

    Returns:
        The wrapped application.
    """
    return ServeStatic(application, **_options())
