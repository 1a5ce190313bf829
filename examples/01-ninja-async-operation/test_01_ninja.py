"""Exercise 01: an async Ninja operation, described by a schema, in the shop's error shape."""

from __future__ import annotations

import inspect
from uuid import uuid4

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient
from django.urls import path
from ninja import NinjaAPI
from tests.factories import make_product

from fashionistar.inventory.models import Stock
from fashionistar.project.api import api as shop_api

PARTICIPANT_FILE = "stock_api.py"
pytestmark = pytest.mark.django_db


@pytest.fixture
def api(participant, serve_urls) -> NinjaAPI:
    """The participant's router on an API of its own, with the shop's error mapping."""
    api = NinjaAPI(urls_namespace=f"workshop-{uuid4().hex}")
    api.add_router("", participant.router)
    for error, handler in shop_api._exception_handlers.items():
        api.add_exception_handler(error, handler)
    serve_urls([path("api/", api.urls)])
    return api


def get(url: str):
    return async_to_sync(AsyncClient().get)(url)


@pytest.fixture
def dress():
    dress = make_product(name="Dress", sizes=("S", "M"), stock=4)
    Stock.objects.filter(variant__sku__endswith="-M").update(quantity=7)
    return dress


def test_it_answers_the_stock_per_size(api, dress) -> None:
    response = get(f"/api/products/{dress.slug}/stock")
    assert response.status_code == 200, (
        f"GET .../stock answered {response.status_code}: {response.json()}"
    )
    assert response.json() == {"slug": dress.slug, "sizes": {"S": 4, "M": 7}, "total": 11}


def test_the_operation_is_async(participant) -> None:
    assert inspect.iscoroutinefunction(participant.product_stock), (
        "product_stock is a plain def: Django runs it in a worker thread; make it async def"
    )


def test_its_answer_is_a_schema_in_the_openapi_document(api) -> None:
    document = api.get_openapi_schema(path_prefix="")
    answers = document["paths"]["/products/{slug}/stock"]["get"]["responses"]
    assert "content" in answers.get(200, {}), (
        "the OpenAPI document has no schema for the answer: declare response=... on the route"
    )
    reference = answers[200]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    assert set(schema["properties"]) == {"slug", "sizes", "total"}


def test_an_unknown_product_is_a_404_in_the_error_shape(api) -> None:
    response = get("/api/products/no-such-dress/stock")
    assert response.status_code == 404
    assert set(response.json()) == {"code", "message", "extra"}
    assert response.json()["code"] == "not_found"
