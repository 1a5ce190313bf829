"""Compose's servers answer plain HTTP on localhost: their own environment, served for real.

No Docker engine here, so each server service's ``DJANGO_*`` variables, as Compose fills them,
are given to its command (``app``: the image's own, WSGI; ``app-async``: the ASGI one), run as
the image runs it (``production`` in ``tests/conftest.py``) on the test run's PostgreSQL and
Redis.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from fashionistar.kernel.config import FALSE_WORDS
from fashionistar_dev.processes import ASYNC_API_PREFIX
from tests.deploy.support import COMPOSE, interpolate, load_yaml
from tests.production import Production

services = load_yaml(COMPOSE)["services"]
APP_SERVICES = [
    name
    for name, service in services.items()
    if "DJANGO_SETTINGS_MODULE" in service.get("environment", {})
]
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/[^"]+)"')


def compose_django_environment(service: str) -> dict[str, str]:
    """A service's ``DJANGO_*`` variables, filled as Compose would from a shell's."""
    shell = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    return {
        name: interpolate(str(value), shell)
        for name, value in services[service]["environment"].items()
        if name.startswith("DJANGO_")
    }


def test_every_app_service_turns_the_https_redirect_off() -> None:
    assert {"app", "app-async", "migrate", "worker-emails"} <= set(APP_SERVICES)
    assert "router" not in APP_SERVICES  # nginx, not the shop
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "fashionistar.project.settings_production"
        assert environment["DJANGO_SECURE_SSL_REDIRECT"].strip().lower() in FALSE_WORDS, name
        # Still there for the TLS-ending proxy that production puts in front.
        assert environment["DJANGO_PROXY_SSL_HEADER"] == "${DJANGO_PROXY_SSL_HEADER:-}", name


@contextmanager
def compose_server(production: Production, service: str) -> Iterator[tuple[str, dict[str, str]]]:
    """A service's command (the image's when it names none) under its ``DJANGO_*`` variables.

    Yields:
        Its base URL, and the Host to send.
    """
    command = services[service].get("command", production.command)
    server = dataclasses.replace(production, command=command)
    with server.server(**compose_django_environment(service)) as base:
        # A browser on the Compose host asks for http://localhost:8000 (the router keeps Host).
        yield base, {"Host": f"localhost:{base.rsplit(':', 1)[1]}"}


def plain_http_ok(base: str, path: str, headers: dict[str, str]) -> httpx.Response:
    """GET a path: a 200, with no redirect to https nor HSTS."""
    response = httpx.get(f"{base}{path}", headers=headers)
    assert response.status_code == 200, (path, response.status_code, response.headers)
    assert "Strict-Transport-Security" not in response.headers
    return response


def head_ok(base: str, path: str, headers: dict[str, str]) -> None:
    """HEAD a path: GET's status and headers, and the server sends no body."""
    response = httpx.head(f"{base}{path}", headers=headers)
    assert response.status_code == 200, (path, response.status_code, response.headers)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.content == b""


def test_the_compose_app_serves_its_pages_over_plain_http(production: Production) -> None:
    with compose_server(production, "app") as (base, headers):
        plain_http_ok(base, "/livez", headers)
        home = plain_http_ok(base, "/", headers)
        # The home page's stylesheet, under the hashed name the manifest storage gave it.
        (stylesheet,) = STYLESHEET.findall(home.text)
        plain_http_ok(base, stylesheet, headers)
        head_ok(base, "/api/sync/catalog/products", headers)


def test_the_compose_async_server_serves_the_async_api_over_plain_http(
    production: Production, django_db_setup: None
) -> None:
    with compose_server(production, "app-async") as (base, headers):
        plain_http_ok(base, "/livez", headers)
        plain_http_ok(base, f"{ASYNC_API_PREFIX}catalog/products", headers)
        head_ok(base, f"{ASYNC_API_PREFIX}catalog/products", headers)
