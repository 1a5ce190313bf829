"""Production settings: ``check --deploy`` is clean, and a real server under them behaves.

The server is the image's own command with ``fashionistar.project.settings_production``, behind a
pretend TLS proxy (requests say ``X-Forwarded-Proto: https``). Each HTML page's CSP is checked
against the page: every script, stylesheet and image it loads must be allowed by the policy it
came with.
"""

from __future__ import annotations

import importlib
import os
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.production import BEHIND_TLS_PROXY, HOST, Production

ROOT = Path(__file__).resolve().parents[2]
HTTPS = BEHIND_TLS_PROXY


def production_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fashionistar.project.settings_production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_PROXY_SSL_HEADER": "X-Forwarded-Proto: https",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_check_deploy_is_clean_with_production_values() -> None:
    result = deploy_check(production_env())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_does_find_problems_in_the_base_settings() -> None:
    env = production_env(DJANGO_SETTINGS_MODULE="fashionistar.project.settings")
    result = deploy_check(env)
    assert result.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in result.stderr  # HSTS, SSL redirect, session and CSRF cookies


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_ALLOWED_HOSTS", "", "DJANGO_ALLOWED_HOSTS is not set"),
        ("DJANGO_PROXY_SSL_HEADER", "X-Forwarded-Proto", "DJANGO_PROXY_SSL_HEADER must be"),
        ("DJANGO_HSTS_PRELOAD", "maybe", "DJANGO_HSTS_PRELOAD='maybe' is not a boolean"),
    ],
)
def test_a_wrong_production_value_stops_start_up_naming_it(
    monkeypatch, variable, value, message
) -> None:
    for name, default in production_env().items():
        if name.startswith("DJANGO_"):
            monkeypatch.setenv(name, default)
    monkeypatch.setenv(variable, value)
    sys.modules.pop("fashionistar.project.settings_production", None)
    with pytest.raises(ImproperlyConfigured, match=message):
        importlib.import_module("fashionistar.project.settings_production")
    sys.modules.pop("fashionistar.project.settings_production", None)


@pytest.fixture
def server(production: Production) -> str:
    """The image's server command under the production settings (``tests/conftest.py``)."""
    return production.url


def test_plain_http_is_redirected_except_probes_and_scrapes(server) -> None:
    redirect = httpx.get(f"{server}/api/sync/catalog/products", headers={"Host": HOST})
    assert redirect.status_code == 301
    assert redirect.headers["Location"] == f"https://{HOST}/api/sync/catalog/products"
    for path in ("/livez", "/healthz", "/readyz", "/metrics"):
        assert httpx.get(f"{server}{path}", headers={"Host": HOST}).status_code == 200, path


def test_https_responses_carry_hsts_and_secure_cookies(server) -> None:
    response = httpx.get(f"{server}/admin/login/", headers=HTTPS)
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert "Secure" in response.headers["Set-Cookie"]  # the CSRF cookie
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unknown_host_is_refused(server) -> None:
    response = httpx.get(f"{server}/api/sync/catalog/products", headers={**HTTPS, "Host": "evil"})
    assert response.status_code == 400


# --- the CSP of real pages ------------------------------------------------------------------


class Elements(HTMLParser):
    """Every element of a page that loads or runs something."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], str]] = []
        self._open: tuple[str, dict[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("script", "style"):
            self._open = (tag, attributes)
        else:
            self.found.append((tag, attributes, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            tag, attributes = self._open
            self.found.append((tag, attributes, data))
            self._open = None

    def handle_endtag(self, tag: str) -> None:
        if self._open is not None and self._open[0] == tag:  # an empty element
            self.found.append((*self._open, ""))
            self._open = None


FALLBACKS = {
    "script-src-elem": ["script-src-elem", "script-src", "default-src"],
    "script-src-attr": ["script-src-attr", "script-src", "default-src"],
    "style-src-elem": ["style-src-elem", "style-src", "default-src"],
    "style-src-attr": ["style-src-attr", "style-src", "default-src"],
    "img-src": ["img-src", "default-src"],
}
DATA_BLOCKS = {"application/json", "application/ld+json", "text/template"}


def parse_policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def sources(policy: dict[str, list[str]], directive: str) -> list[str]:
    return next((policy[name] for name in FALLBACKS[directive] if name in policy), [])


def url_allowed(allowed: list[str], url: str, page: str) -> bool:
    target, origin = urlsplit(urljoin(page, url)), urlsplit(page)
    for source in allowed:
        if source == "'self'" and (target.scheme, target.netloc) == (origin.scheme, origin.netloc):
            return True
        if source.endswith(":") and target.scheme == source[:-1]:
            return True
        host = urlsplit(source)
        if host.netloc and (target.scheme, target.netloc) == (host.scheme, host.netloc):
            return True
    return False


def inline_allowed(allowed: list[str], nonce: str | None) -> bool:
    if nonce and f"'nonce-{nonce}'" in allowed:
        return True
    # Browsers ignore 'unsafe-inline' when a nonce or hash is listed.
    strict = any(value.startswith(("'nonce-", "'sha")) for value in allowed)
    return "'unsafe-inline'" in allowed and not strict


def violations(html: str, policy: dict[str, list[str]], page: str) -> list[str]:
    """What a browser enforcing ``policy`` would block on this page."""
    parser = Elements()
    parser.feed(html)
    blocked = []
    for tag, attributes, text in parser.found:
        for name in attributes:
            if name.startswith("on") and not inline_allowed(
                sources(policy, "script-src-attr"), None
            ):
                blocked.append(f"<{tag} {name}=...>")
        if "style" in attributes and not inline_allowed(sources(policy, "style-src-attr"), None):
            blocked.append(f"<{tag} style=...>")
        src = attributes.get("src", "")
        if tag == "script" and attributes.get("type", "") not in DATA_BLOCKS:
            allowed = sources(policy, "script-src-elem")
            if src and not url_allowed(allowed, src, page):
                blocked.append(f"script {src}")
            if not src and text.strip() and not inline_allowed(allowed, attributes.get("nonce")):
                blocked.append("inline <script>")
        if tag == "style" and not inline_allowed(
            sources(policy, "style-src-elem"), attributes.get("nonce")
        ):
            blocked.append("inline <style>")
        rel, href = attributes.get("rel", ""), attributes.get("href", "")
        if (
            tag == "link"
            and rel == "stylesheet"
            and not url_allowed(sources(policy, "style-src-elem"), href, page)
        ):
            blocked.append(f"stylesheet {href}")
        if (
            tag == "link"
            and "icon" in rel
            and not url_allowed(sources(policy, "img-src"), href, page)
        ):
            blocked.append(f"icon {href}")
        if tag == "img" and not url_allowed(sources(policy, "img-src"), src, page):
            blocked.append(f"img {src}")
    return blocked


def static_files_missing(server: str, html: str) -> list[str]:
    """The ``/static/`` files a page links that the server does not answer."""
    parser = Elements()
    parser.feed(html)
    urls = [attrs.get("src") or attrs.get("href") or "" for _, attrs, _ in parser.found]
    return [
        url
        for url in urls
        if url.startswith("/static/")
        and httpx.get(f"{server}{url}", headers=HTTPS).status_code != 200
    ]


def fetch_page(
    server: str, path: str, accept: str = "text/html"
) -> tuple[str, dict[str, list[str]]]:
    response = httpx.get(f"{server}{path}", headers={**HTTPS, "Accept": accept})
    assert response.status_code == 200, (path, response.status_code)
    return response.text, parse_policy(response.headers["Content-Security-Policy"])


@pytest.mark.parametrize(
    "path",
    ["/admin/login/", "/api/async/docs"],
)
def test_the_admin_and_the_ninja_docs_load_everything_under_the_strict_policy(server, path) -> None:
    html, policy = fetch_page(server, path)
    page = f"https://{HOST}{path}"
    assert "'unsafe-inline'" not in policy["script-src"]
    assert violations(html, policy, page) == []
    assert static_files_missing(server, html) == []


def test_the_drf_browsable_api_runs_under_the_strict_policy(server) -> None:
    path = "/api/sync/catalog/products"
    html, policy = fetch_page(server, path)
    # Pygments is no production dependency: DRF's template inlines no code-colour stylesheet.
    assert violations(html, policy, f"https://{HOST}{path}") == []
    assert static_files_missing(server, html) == []
    assert 'id="drf_csrf"' in html  # its scripts' data, in a JSON block that CSP does not run


def test_the_drf_docs_page_loads_swagger_ui_from_this_server(server) -> None:
    path = "/api/sync/docs"
    html, policy = fetch_page(server, path)
    assert violations(html, policy, f"https://{HOST}{path}") == []
    assert policy["script-src"] == ["'self'"]  # no CDN
    assert static_files_missing(server, html) == []
    script = httpx.get(f"{server}{path}?script=", headers=HTTPS)
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.text


def test_the_admin_marks_its_elements_with_this_responses_nonce(server) -> None:
    first, policy = fetch_page(server, "/admin/login/")
    second, _ = fetch_page(server, "/admin/login/")
    (nonce,) = [value[len("'nonce-") : -1] for value in policy["script-src"] if "nonce-" in value]
    assert f'nonce="{nonce}"' in first
    assert f'nonce="{nonce}"' not in second  # a new one for every response
