"""URL configuration: the sync API (DRF), the async API (Ninja), health, metrics, the admin."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from fashionistar.accounts.apis.drf import TokenObtainApi
from fashionistar.catalog.apis.drf import ProductDetailApi, ProductListApi
from fashionistar.observability.metrics import metrics_view
from fashionistar.orders.apis.drf import OrderCancelApi, OrderDetailApi, OrdersApi
from fashionistar.payments.apis.drf import OrderPayApi
from fashionistar.project.api import ninja_urls
from fashionistar.project.health import healthz, livez, readyz, tasks_health
from fashionistar.project.home import favicon, home

handler404 = "fashionistar.project.api.api_not_found"

# Swagger UI with its script in a separate request (no inline script); its own CSP when the
# settings give one (settings_production does: its template has an inline <style>).
drf_docs = SpectacularSwaggerSplitView.as_view(url_name="sync:schema")
if drf_docs_csp := getattr(settings, "DRF_DOCS_CSP", None):
    drf_docs = csp_override(drf_docs_csp)(drf_docs)

sync_patterns = [
    path("catalog/products", ProductListApi.as_view(), name="product-list"),
    path("catalog/products/<str:slug>", ProductDetailApi.as_view(), name="product-detail"),
    path("orders", OrdersApi.as_view(), name="orders"),
    path("orders/<int:order_id>", OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel", OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/pay", OrderPayApi.as_view(), name="order-pay"),
    path("auth/token", TokenObtainApi.as_view(), name="token-obtain"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", drf_docs, name="docs"),
]

urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("livez", livez, name="livez"),
    path("healthz", healthz, name="healthz"),
    path("healthz/tasks", tasks_health, name="healthz-tasks"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/sync/ops/", include("fashionistar.ops.urls")),
    path("api/sync/", include((sync_patterns, "sync"))),
    path("api/async/", ninja_urls()),
]
