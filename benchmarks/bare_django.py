"""Bare Django over the shop's data: the baseline every server figure is set beside.

``DJANGO_SETTINGS_MODULE=bare_django`` (with ``benchmarks/`` on the path): the shop's settings
with no middleware and two plain views, so that what remains is Django, the server and the
database. ``/bare/ping`` answers a constant; ``/bare/products`` lists the same products with
their variants and stock as the shop's product list, in the same three queries, as JSON;
``/bare/wait?ms=100`` waits that long, the way a view waits on a partner's answer, then answers
a constant. Served as ``bare_django:wsgi`` or ``bare_django:asgi``.
"""

import asyncio

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import path

from fashionistar.project.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bare_django"


def ping(request: HttpRequest) -> JsonResponse:
    """A constant answer."""
    return JsonResponse({"status": "ok"})


def products(request: HttpRequest) -> JsonResponse:
    """The first page of active products, with variants and stock."""
    from fashionistar.catalog.models import Product

    page = (
        Product.objects.filter(is_active=True)
        .select_related("category")
        .prefetch_related("variants__stock")
        .order_by("name")[:20]
    )
    results = [
        {
            "id": product.pk,
            "name": product.name,
            "slug": product.slug,
            "price": str(product.price),
            "category": product.category.name,
            "variants": [
                {"sku": v.sku, "size": v.size, "stock": v.stock.quantity}
                for v in product.variants.all()
            ],
        }
        for product in page
    ]
    return JsonResponse({"count": len(results), "results": results})


async def wait(request: HttpRequest) -> JsonResponse:
    """Wait ``ms`` milliseconds on nothing but time, as on a partner, then answer a constant.

    Under ASGI the worker's event loop serves other requests meanwhile; under WSGI Django runs
    the view in an event loop of its own and the request holds one of the server's threads.
    """
    await asyncio.sleep(int(request.GET.get("ms", "100")) / 1000)
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("bare/ping", ping),
    path("bare/products", products),
    path("bare/wait", wait),
]

wsgi = get_wsgi_application()
asgi = get_asgi_application()
