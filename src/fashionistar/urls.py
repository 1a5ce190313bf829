"""URL configuration: the sync API (DRF), the async API (Ninja), health and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from fashionistar.accounts.apis.drf import TokenObtainApi
from fashionistar.api import ninja_urls
from fashionistar.catalog.apis.drf import ProductDetailApi, ProductListApi
from fashionistar.health import healthz
from fashionistar.orders.apis.drf import OrderCancelApi, OrderDetailApi, OrdersApi
from fashionistar.payments.apis.drf import OrderPayApi

handler404 = "fashionistar.api.api_not_found"

sync_patterns = [
    path("catalog/products", ProductListApi.as_view(), name="product-list"),
    path("catalog/products/<str:slug>", ProductDetailApi.as_view(), name="product-detail"),
    path("orders", OrdersApi.as_view(), name="orders"),
    path("orders/<int:order_id>", OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel", OrderCancelApi.as_view(), name="order-cancel"),
    path("orders/<int:order_id>/pay", OrderPayApi.as_view(), name="order-pay"),
    path("auth/token", TokenObtainApi.as_view(), name="token-obtain"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="sync:schema"), name="docs"),
]

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/sync/", include((sync_patterns, "sync"))),
    path("api/async/", ninja_urls()),
]
