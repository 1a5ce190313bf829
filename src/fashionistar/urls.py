"""URL configuration: the sync API (DRF), the async API (Ninja), health and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from fashionistar.health import healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
