"""Production settings: the base settings with DEBUG off, HTTPS only, and a nonce-based CSP.

``DJANGO_SETTINGS_MODULE=fashionistar.project.settings_production``. On top of the base variables it
needs ``DJANGO_ALLOWED_HOSTS`` (no default here), and, behind a proxy or load balancer that ends
TLS, ``DJANGO_PROXY_SSL_HEADER`` (for example ``X-Forwarded-Proto: https``; set it only if that
proxy always sets or strips the header, or a client could claim HTTPS). ``manage.py check
--deploy`` is clean with these (``tests/observability/test_production_settings.py`` runs it).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from fashionistar.kernel.config import env_bool, env_list, env_str
from fashionistar.project.settings import *  # noqa: F403
from fashionistar.project.settings import TEMPLATES


def proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """Read ``Header-Name: value`` into Django's ``SECURE_PROXY_SSL_HEADER``.

    Args:
        name: The variable.

    Returns:
        ``("HTTP_HEADER_NAME", "value")``, or ``None`` when the variable is not set.

    Raises:
        ImproperlyConfigured: It is set but not ``Header-Name: value``.
    """
    raw = env_str(name, default="")
    if not raw:
        return None
    header, separator, value = raw.partition(":")
    if not separator or not header.strip() or not value.strip():
        raise ImproperlyConfigured(f"{name} must be 'Header-Name: value', got {raw!r}")
    return "HTTP_" + header.strip().upper().replace("-", "_"), value.strip()


DEBUG = False
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is not set: name the shop's host names")

# --8<-- [start:https]
SECURE_PROXY_SSL_HEADER = proxy_ssl_header("DJANGO_PROXY_SSL_HEADER")
# Off only for a local trial on plain http://localhost (the Compose file): check --deploy warns.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Probes and the Prometheus scrape come over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^livez$", r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(env_str("DJANGO_HSTS_SECONDS", default=str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
# Preloading is a promise to browsers that is slow to take back: turn it off before the first
# deploy if some subdomain cannot do HTTPS yet (check --deploy then warns, rightly).
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
# --8<-- [end:https]

# --8<-- [start:csp]
SECURE_CSP: dict[str, list[str]] = {
    "default-src": [CSP.SELF],
    # Inline <script> and <style> run only with this response's nonce ({{ csp_nonce }}).
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    # style="..." attributes (the admin's and DRF's templates have some) cannot run code.
    "style-src-attr": [CSP.UNSAFE_INLINE],
    # Swagger UI's stylesheet draws its icons with data: URLs.
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

DRF_DOCS_CSP: dict[str, list[str]] = {
    **SECURE_CSP,
    # drf-spectacular's Swagger UI template has an inline <style> without a nonce.
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
}
"""The DRF docs page's policy (``fashionistar.project.urls``): the base one plus inline styles."""
# --8<-- [end:csp]


def _with_csp_nonce(templates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copy ``TEMPLATES``, adding the context processor that gives templates ``csp_nonce``."""
    processor = "django.template.context_processors.csp"
    return [
        {
            **engine,
            "OPTIONS": {
                **engine.get("OPTIONS", {}),
                "context_processors": [
                    *engine.get("OPTIONS", {}).get("context_processors", []),
                    processor,
                ],
            },
        }
        for engine in templates
    ]


TEMPLATES = _with_csp_nonce(TEMPLATES)

# --8<-- [start:storages]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic writes each file under a hashed name (cached for a year by
    # fashionistar.project.static) and compressed copies next to it.
    "staticfiles": {"BACKEND": "servestatic.storage.CompressedManifestStaticFilesStorage"},
}
# --8<-- [end:storages]
