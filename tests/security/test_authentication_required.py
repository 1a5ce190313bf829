"""Every endpoint that is not on the short public list refuses a request without credentials.

The test walks Django's URL resolver (which holds the DRF views and every Ninja operation), so
a new endpoint is checked the day it is added: if it answers a 2xx (or any non-refusal) to an
anonymous client and is not in ``PUBLIC``, this test fails. Two more walks make sure nothing
slips past the first: every operation of the Ninja router and every DRF view declares its
authentication, unless public.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny, IsAuthenticated

from fashionistar.project.api import api as ninja_api
from tests.api_support import fresh_throttles  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_throttles")]

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

REFUSED = {401, 403, 405}
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


def test_the_walk_finds_both_apis_and_the_admin() -> None:
    assert "api/sync/orders/<int:order_id>" in ROUTES
    assert "api/async/orders/<int:order_id>" in ROUTES
    assert any(route.startswith("admin/") for route in ROUTES)
    assert set(PUBLIC) <= set(ROUTES), set(PUBLIC) - set(ROUTES)


def anonymous_answer(method: str, url: str) -> tuple[int, str]:
    response = Client().generic(method, url, "{}", content_type="application/json")
    return response.status_code, response.headers.get("Location", "")


@pytest.mark.parametrize("route", ROUTES)
def test_a_private_endpoint_refuses_anonymous_clients(route) -> None:
    url = sample_url(route)
    allowed = PUBLIC.get(route, set())
    for method in METHODS:
        if method in allowed:
            continue
        status, location = anonymous_answer(method, url)
        if route.startswith("admin/"):
            # The admin sends anonymous visitors to its login page (or 404s a bogus path).
            assert status in REFUSED | {302, 404}, (method, url, status)
            assert status != 302 or location.startswith("/admin/login/"), (method, url)
        else:
            assert status in REFUSED, (method, url, status)


def test_the_public_endpoints_answer_anonymous_clients() -> None:
    for route, methods in PUBLIC.items():
        method = "GET" if "GET" in methods else "POST"
        status, _ = anonymous_answer(method, sample_url(route))
        assert status < 500, (method, route, status)
        assert status not in {401, 403}, (method, route, status)


def openapi_route(path: str) -> str:
    """``/api/async/orders/{order_id}`` -> ``api/async/orders/{order_id}``, and a resolver
    route ``api/async/orders/<int:order_id>`` -> the same, to compare the two."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path.lstrip("/"))


def test_every_ninja_operation_declares_authentication_unless_public() -> None:
    public = {openapi_route(route): methods for route, methods in PUBLIC.items()}
    schema = ninja_api.get_openapi_schema()
    for path, operations in schema["paths"].items():
        route = openapi_route(path)
        assert route in {openapi_route(r) for r in ROUTES}, route  # the walk covers it
        for method, operation in operations.items():
            if method.upper() in public.get(route, set()):
                continue
            assert operation.get("security"), (method, route)


def test_every_drf_view_requires_a_user_unless_public() -> None:
    for pattern in get_resolver().url_patterns:
        if not (isinstance(pattern, URLResolver) and str(pattern.pattern) == "api/sync/"):
            continue
        for view_pattern in pattern.url_patterns:
            route = "api/sync/" + str(view_pattern.pattern)
            view = getattr(view_pattern.callback, "view_class", None)
            permissions = getattr(view, "permission_classes", ())
            if route in PUBLIC:
                continue
            assert IsAuthenticated in permissions, route
            assert AllowAny not in permissions, route
