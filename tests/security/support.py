"""Helpers shared by the tests of this folder."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.urls import URLPattern, URLResolver, get_resolver

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


ANY = set(METHODS)


PUBLIC = {
    # the home page and its icon: what the shop is, and links
    "": {"GET"},
    "favicon.ico": {"GET"},
    # operations: liveness, readiness and metrics (scraped by the platform, no customer data)
    "livez": ANY,
    "healthz": ANY,
    "healthz/tasks": ANY,
    "readyz": ANY,
    "metrics": ANY,
    # the catalog, read-only
    "api/sync/catalog/products": {"GET"},
    "api/sync/catalog/products/<str:slug>": {"GET"},
    "api/async/catalog/products": {"GET"},
    "api/async/catalog/products/<slug>": {"GET"},
    # obtaining a token (it checks the credentials itself)
    "api/sync/auth/token": {"POST"},
    "api/async/auth/token": {"POST"},
    # the schemas, their docs, and Ninja's home (404, or a redirect to the docs under DEBUG)
    "api/sync/schema": {"GET"},
    "api/sync/docs": {"GET"},
    "api/async/openapi.json": ANY,
    "api/async/docs": ANY,
    "api/async/": ANY,
    # the admin's own login and logout pages
    "admin/login/": ANY,
    "admin/logout/": ANY,
}
"""Route (as the resolver writes it) -> the methods an anonymous client may use."""


SAMPLE_VALUES = {"int": "1", "str": "x", "slug": "x", "path": "x", "uuid": "0" * 32}


def routes(
    patterns: list[URLPattern | URLResolver] | None = None, prefix: str = ""
) -> Iterator[str]:
    """Every route of the project, as one string per endpoint (``api/sync/orders/<int:id>``)."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern)


def sample_url(route: str) -> str:
    """A URL that the route matches: ``<int:order_id>`` -> ``1``, a regex group -> ``x``."""
    url = re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE_VALUES.get(m.group(1) or "str", "x"), route)
    url = re.sub(r"\(\?P<\w+>[^)]*\)", "x", url)  # the admin's regex routes
    url = url.removeprefix("^").removesuffix("$").replace("\\", "")
    return "/" + url


ROUTES = sorted(set(routes()))
