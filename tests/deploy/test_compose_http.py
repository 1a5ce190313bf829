"""Compose's app answers plain HTTP on localhost: its own environment, served for real.

No Docker engine here, so the app service's ``DJANGO_*`` variables, as Compose fills them, are
given to the image's own server command, built as the image builds it (``production`` in
``tests/conftest.py``), on the test run's PostgreSQL and Redis.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

import httpx
import pytest

from fashionistar.kernel.config import FALSE_WORDS
from tests.deploy.support import COMPOSE, interpolate, load_yaml
from tests.production import Production

services = load_yaml(COMPOSE)["services"]
APP_SERVICES = [
    name
    for name, service in services.items()
    if "DJANGO_SETTINGS_MODULE" in service.get("environment", {})
]
STYLESHEET = re.compile(r'<link rel="stylesheet" href="(/static/[^"]+)"')


def compose_django_environment() -> dict[str, str]:
    """The app service's ``DJANGO_*`` variables, filled as Compose would from a shell's."""
    shell = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}
    return {
        name: interpolate(str(value), shell)
        for name, value in services["app"]["environment"].items()
        if name.startswith("DJANGO_")
    }


def test_every_app_service_turns_the_https_redirect_off() -> None:
    assert {"app", "migrate", "worker-emails"} <= set(APP_SERVICES)
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert environment["DJANGO_SETTINGS_MODULE"] == "fashionistar.project.settings_production"
        assert environment["DJANGO_SECURE_SSL_REDIRECT"].strip().lower() in FALSE_WORDS, name
        # Still there for the TLS-ending proxy that production puts in front.
        assert environment["DJANGO_PROXY_SSL_HEADER"] == "${DJANGO_PROXY_SSL_HEADER:-}", name


@pytest.fixture(scope="module")
def compose_app(production: Production) -> Iterator[tuple[str, dict[str, str]]]:
    """The image's server under Compose's ``DJANGO_*`` variables: its base URL, the Host to send."""
    with production.server(**compose_django_environment()) as base:
        # A browser on the Compose host asks for http://localhost:8000.
        yield base, {"Host": f"localhost:{base.rsplit(':', 1)[1]}"}


def test_the_compose_app_serves_its_pages_over_plain_http(compose_app) -> None:
    base, headers = compose_app
    for path in ("/livez", "/"):
        response = httpx.get(f"{base}{path}", headers=headers)
        assert response.status_code == 200, (path, response.status_code, response.headers)
        assert "Strict-Transport-Security" not in response.headers
    # The home page's stylesheet, under the hashed name the manifest storage gave it.
    (stylesheet,) = STYLESHEET.findall(httpx.get(f"{base}/", headers=headers).text)
    assert httpx.get(f"{base}{stylesheet}", headers=headers).status_code == 200
