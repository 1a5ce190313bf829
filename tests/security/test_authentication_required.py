"""Every endpoint that is not on the short public list refuses a request without credentials.

The test walks Django's URL resolver (which holds the DRF views and every Ninja operation), so
a new endpoint is checked the day it is added: if it answers a 2xx (or any non-refusal) to an
anonymous client and is not in ``PUBLIC``, this test fails. Two more walks make sure nothing
slips past the first: every operation of the Ninja router and every DRF view declares its
authentication, unless public.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver
from rest_framework.permissions import AllowAny, IsAuthenticated

from fashionistar.project.api import api as ninja_api
from tests.security.support import METHODS, PUBLIC, ROUTES, sample_url

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_throttles")]


REFUSED = {401, 403, 405}


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
