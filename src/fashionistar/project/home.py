"""The home page: what this shop is, and where to go next (both APIs, the admin, health, mail)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_safe


@dataclass(frozen=True)
class Link:
    """A link on the home page, with a line saying what is there."""

    title: str
    url: str
    about: str


@dataclass(frozen=True)
class DemoLogin:
    """A login a local demo publishes; ``staff`` ones sign in to the admin."""

    username: str
    password: str
    staff: bool


def demo_logins() -> list[DemoLogin]:
    """Return the demo logins the settings publish, each marked staff or customer.

    Returns:
        None in production: only a local demo sets ``DEMO_LOGINS``.
    """
    if not settings.DEMO_LOGINS:
        return []
    staff = set(
        get_user_model()
        .objects.filter(username__in=[name for name, _ in settings.DEMO_LOGINS], is_staff=True)
        .values_list("username", flat=True)
    )
    return [DemoLogin(name, password, name in staff) for name, password in settings.DEMO_LOGINS]


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """Render the home page.

    Args:
        request: The request.

    Returns:
        The page.
    """
    apis = [
        Link(
            "Sync API: Django REST Framework",
            reverse("sync:docs"),
            f"Swagger UI; the OpenAPI schema is at {reverse('sync:schema')}",
        ),
        Link(
            "Async API: django-ninja",
            reverse("async:openapi-view"),
            f"Swagger UI; the OpenAPI schema is at {reverse('async:openapi-json')}",
        ),
    ]
    inside = [
        Link("Admin", reverse("admin:index"), "the catalog, stock, orders and payments, read-only")
    ]
    if settings.DOCS_SITE_URL:
        inside.append(
            Link("The Field Guide", settings.DOCS_SITE_URL, "the docs site this shop illustrates")
        )
    operations = [
        Link("/livez", reverse("livez"), "liveness: the process answers"),
        Link("/readyz", reverse("readyz"), "readiness: PostgreSQL (through PgBouncer) and Redis"),
        Link("/healthz", reverse("healthz"), "the database and the cache, through Django"),
        Link("/healthz/tasks", reverse("healthz-tasks"), "each task queue: depth, age, workers"),
        Link("/metrics", reverse("metrics"), "Prometheus metrics of every process"),
    ]
    mailers = cast(dict[str, dict[str, dict[str, object]]], settings.MAILERS)
    smtp = mailers.get("smtp", {}).get("OPTIONS", {})
    return render(
        request,
        "home.html",
        {
            "apis": apis,
            "inside": inside,
            "operations": operations,
            "demo_logins": demo_logins(),
            "smtp": f"{smtp['host']}:{smtp['port']}" if smtp else "",
        },
    )


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """Send browsers that ask for ``/favicon.ico`` to the shop's icon.

    Args:
        request: The request.

    Returns:
        A permanent redirect to the static icon.
    """
    return redirect(static("fashionistar/favicon.svg"), permanent=True)
