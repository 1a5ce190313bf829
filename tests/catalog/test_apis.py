"""Catalog endpoints, in both APIs: list (filters, sorts, pages), detail, their cache and ETags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers

from fashionistar.catalog.apis import CACHE_CONTROL
from fashionistar.catalog.apis.drf import ProductSerializer, VariantSerializer
from fashionistar.catalog.models import CURRENCIES, Product
from fashionistar.catalog.selectors import CATALOG_VERSION, SORTS, product_list
from fashionistar.catalog.services import catalog_changed
from fashionistar.inventory.models import Stock
from fashionistar.kernel.redis_client import redis_client
from fashionistar.orders.services import OrderItem, order_place
from tests.api_support import (
    assert_error,
    assert_invalid_fields,
    both_apis,
    call,
    operation,
    parameter,
)
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shelf() -> dict[str, Product]:
    return {
        "dress": make_product(
            name="Silk Dress", price="89.00", category="dresses", sizes=("S", "M")
        ),
        "coat": make_product(name="Wool Coat", price="240.50", category="coats"),
        "scarf": make_product(name="Silk Scarf", price="19.90", category="accessories"),
        "boots": make_product(name="Boots", price="120.00", currency="USD", category="shoes"),
    }


def names(answer) -> list[str]:
    return [product["name"] for product in answer.body["results"]]


@both_apis
def test_the_list_is_paginated_in_one_envelope_with_money_as_strings(api, shelf) -> None:
    answer = call(api, "get", "catalog/products")

    assert answer.status == 200
    assert set(answer.body) == {"count", "page", "page_size", "results"}
    assert answer.body["count"] == 4
    assert answer.body["page"] == 1
    assert answer.body["page_size"] == 20
    assert names(answer) == ["Boots", "Silk Dress", "Silk Scarf", "Wool Coat"]
    dress = answer.body["results"][1]
    assert dress["price"] == "89.00"
    assert dress["currency"] == "EUR"
    assert dress["category"] == {"slug": "dresses", "name": "Dresses"}
    assert [v["size"] for v in dress["variants"]] == ["S", "M"]
    assert dress["variants"][0]["available"] == 10


@both_apis
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"search": "silk"}, ["Silk Dress", "Silk Scarf"]),
        ({"search": "silk scarf"}, ["Silk Scarf"]),
        ({"category": "coats"}, ["Wool Coat"]),
        ({"currency": "USD"}, ["Boots"]),
        ({"min_price": "89.00", "max_price": "120"}, ["Boots", "Silk Dress"]),
        ({"sort": "price"}, ["Silk Scarf", "Silk Dress", "Boots", "Wool Coat"]),
        ({"sort": "-price"}, ["Wool Coat", "Boots", "Silk Dress", "Silk Scarf"]),
        ({"sort": "-name", "page_size": 3}, ["Wool Coat", "Silk Scarf", "Silk Dress"]),
        ({"sort": "-name", "page_size": 3, "page": 2}, ["Boots"]),
    ],
)
def test_filters_sorts_and_pages(api, shelf, query, expected) -> None:
    answer = call(api, "get", "catalog/products", query=query)

    assert answer.status == 200, answer.body
    assert names(answer) == expected


@both_apis
def test_inactive_products_are_hidden(api, shelf) -> None:
    Product.objects.filter(pk=shelf["coat"].pk).update(is_active=False)

    assert "Wool Coat" not in names(call(api, "get", "catalog/products"))
    assert_error(call(api, "get", f"catalog/products/{shelf['coat'].slug}"), 404, "not_found")


@both_apis
def test_a_page_past_the_last_is_404(api, shelf) -> None:
    answer = call(api, "get", "catalog/products", query={"page": 3, "page_size": 2})

    assert_error(answer, 404, "not_found")
    assert answer.body["extra"] == {"page": 3}


@both_apis
def test_an_empty_catalog_has_an_empty_first_page(api) -> None:
    answer = call(api, "get", "catalog/products")

    assert answer.status == 200
    assert answer.body == {"count": 0, "page": 1, "page_size": 20, "results": []}


@both_apis
def test_the_detail_shows_one_product(api, shelf) -> None:
    answer = call(api, "get", f"catalog/products/{shelf['dress'].slug}")

    assert answer.status == 200
    assert answer.body["id"] == shelf["dress"].pk
    assert answer.body["name"] == "Silk Dress"
    assert answer.body["price"] == "89.00"
    assert len(answer.body["variants"]) == 2


@both_apis
def test_an_unknown_slug_is_404(api) -> None:
    answer = call(api, "get", "catalog/products/no-such-thing")

    assert_error(answer, 404, "not_found")
    assert answer.body["extra"] == {"slug": "no-such-thing"}


@both_apis
def test_the_catalog_is_public_even_with_a_bad_token(api, shelf) -> None:
    assert call(api, "get", "catalog/products", token="nope").status == 200


def test_interactive_docs_and_schemas_are_served() -> None:
    from django.test import Client

    client = Client()
    assert client.get("/api/async/docs").status_code == 200
    assert client.get("/api/async/openapi.json").json()["paths"]
    assert client.get("/api/sync/docs").status_code == 200
    schema = client.get("/api/sync/schema", headers={"Accept": "application/json"})
    assert schema.status_code == 200
    assert "/api/sync/orders" in schema.json()["paths"]


def test_the_browsable_api_renders_html() -> None:
    from django.test import Client

    response = Client().get("/api/sync/catalog/products", headers={"Accept": "text/html"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_the_sync_schema_validates_without_warnings(tmp_path) -> None:
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yml"))


def queries_of(api, path: str) -> tuple[int, dict]:
    """The SQL statements one request ran, and its body."""
    with CaptureQueriesContext(connection) as ran:
        answer = call(api, "get", path)
    assert answer.status == 200, answer.body
    return len(ran), answer.body


@both_apis
@pytest.mark.parametrize("detail", [False, True], ids=["list", "detail"])
def test_a_repeated_read_comes_from_the_cache_without_sql(api, shelf, detail) -> None:
    path = f"catalog/products/{shelf['dress'].slug}" if detail else "catalog/products?sort=price"
    first_queries, first = queries_of(api, path)
    again_queries, again = queries_of(api, path)

    assert first_queries > 0
    assert again_queries == 0
    assert again == first


@both_apis
def test_a_list_is_counted_only_when_its_page_cannot_tell(api, shelf, settings) -> None:
    settings.CATALOG_CACHE_S = 0

    def count_and_counts(query: str) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as ran:
            answer = call(api, "get", f"catalog/products?{query}")
        assert answer.status == 200, answer.body
        counts = sum("COUNT(*)" in item["sql"] for item in ran.captured_queries)
        return answer.body["count"], counts

    total = len(shelf)
    assert count_and_counts(f"page_size={total + 1}") == (total, 0)  # a short page is the last
    assert count_and_counts(f"page_size={total - 1}&page=2") == (total, 0)
    assert count_and_counts("page_size=1") == (total, 1)  # a full page: only COUNT can tell
    assert count_and_counts(f"page_size=1&page={total}") == (total, 1)
    assert call(api, "get", f"catalog/products?page_size=1&page={total + 1}").status == 404


def cache_reads() -> dict[str, int]:
    """Redis's count of the read commands it ran so far."""
    with redis_client() as client:
        stats = client.info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("get", "mget")}


@both_apis
@pytest.mark.parametrize("detail", [False, True], ids=["list", "detail"])
def test_a_cached_answer_costs_one_round_trip_to_redis(api, shelf, detail) -> None:
    path = f"catalog/products/{shelf['dress'].slug}" if detail else "catalog/products?sort=price"
    call(api, "get", path)
    before = cache_reads()

    assert call(api, "get", path).status == 200

    after = cache_reads()
    assert (after["mget"] - before["mget"], after["get"] - before["get"]) == (1, 0)


@both_apis
def test_a_version_moved_on_by_another_process_is_read_at_once(api, shelf) -> None:
    dress = shelf["dress"]
    call(api, "get", f"catalog/products/{dress.slug}")  # cached; this process saw the version
    Product.objects.filter(pk=dress.pk).update(price=Decimal("59.00"))  # no signal here
    cache.incr(CATALOG_VERSION)  # what another process's catalog_changed() does

    assert call(api, "get", f"catalog/products/{dress.slug}").body["price"] == "59.00"


@both_apis
def test_a_saved_price_shows_at_once(api, shelf) -> None:
    dress = shelf["dress"]
    call(api, "get", "catalog/products")
    call(api, "get", f"catalog/products/{dress.slug}")
    dress.price = Decimal("79.00")
    dress.save(update_fields=["price"])

    listed = call(api, "get", "catalog/products?search=dress").body["results"][0]
    shown = call(api, "get", f"catalog/products/{dress.slug}").body
    assert listed["price"] == shown["price"] == "79.00"


@both_apis
def test_an_orders_stock_change_shows_when_the_cached_answer_expires(api, shelf) -> None:
    dress = shelf["dress"]
    variant = dress.variants.order_by("pk").first()

    def stock_shown() -> int:
        body = call(api, "get", f"catalog/products/{dress.slug}").body
        return next(v["available"] for v in body["variants"] if v["sku"] == variant.sku)

    before = stock_shown()
    order_place(user=make_user(), items=[OrderItem(variant_id=variant.pk, quantity=1)])

    assert stock_shown() == before  # an order moves stock with an UPDATE: cached until expiry
    catalog_changed()  # what CATALOG_CACHE_S seconds do
    assert stock_shown() == before - 1


@both_apis
@pytest.mark.parametrize("detail", [False, True], ids=["list", "detail"])
def test_with_the_cache_off_every_read_runs_sql_and_asks_redis_nothing(
    api, shelf, detail, settings
) -> None:
    settings.CATALOG_CACHE_S = 0
    path = f"catalog/products/{shelf['dress'].slug}" if detail else "catalog/products?sort=price"
    first_queries, first = queries_of(api, path)
    before = cache_reads()

    again_queries, again = queries_of(api, path)

    assert again_queries == first_queries > 0
    assert again == first
    assert cache_reads() == before


@both_apis
def test_without_redis_the_catalog_is_served_uncached(api, shelf, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "fashionistar.observability.cache.MeteredRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }

    answer = call(api, "get", "catalog/products")

    assert answer.status == 200
    assert len(answer.body["results"]) == len(shelf)


@both_apis
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"sort": "cheapest"}, "sort"),
        ({"currency": "XYZ"}, "currency"),
        ({"min_price": "-1"}, "min_price"),
        ({"max_price": "1.005"}, "max_price"),
    ],
)
def test_a_filter_outside_the_schema_is_invalid_input(api, query, field) -> None:
    assert_invalid_fields(call(api, "get", "catalog/products", query=query), field)


@both_apis
def test_the_schemas_state_the_filters_rules(api) -> None:
    listing = operation(api, "get", "catalog/products")

    assert parameter(listing, "sort")["enum"] == list(SORTS)
    assert set(parameter(listing, "currency")["enum"]) == {"", *CURRENCIES}
    for bound in ("min_price", "max_price"):
        price = parameter(listing, bound)
        price = next((s for s in price.get("anyOf", ()) if s["type"] != "null"), price)
        assert price["pattern"] == r"^\d{1,8}(?:\.\d{1,2})?$"
    slug = parameter(operation(api, "get", "catalog/products/{slug}"), "slug")
    assert slug["pattern"] == "^[-a-zA-Z0-9_]+$"
    assert slug["maxLength"] == 200


# --- ETags: a client revalidates its copy, and an unchanged answer is a 304 -----------------


def path_of(shelf, detail: bool) -> str:
    return f"catalog/products/{shelf['dress'].slug}" if detail else "catalog/products?sort=price"


both_paths = pytest.mark.parametrize("detail", [False, True], ids=["list", "detail"])


@both_apis
@both_paths
def test_an_answer_carries_a_weak_etag_and_must_be_revalidated(api, shelf, detail) -> None:
    answer = call(api, "get", path_of(shelf, detail))

    assert answer.status == 200
    assert answer.headers["ETag"].startswith('W/"')
    assert answer.headers["Cache-Control"] == CACHE_CONTROL == "public, max-age=0, must-revalidate"
    assert call(api, "get", path_of(shelf, detail)).headers["ETag"] == answer.headers["ETag"]


@both_apis
@both_paths
def test_the_current_etag_gets_a_304_without_a_body_and_without_sql(api, shelf, detail) -> None:
    etag = call(api, "get", path_of(shelf, detail)).headers["ETag"]

    with CaptureQueriesContext(connection) as ran:
        answer = call(api, "get", path_of(shelf, detail), headers={"If-None-Match": etag})

    assert answer.status == 304
    assert answer.body is None
    assert answer.headers["ETag"] == etag
    assert answer.headers["Cache-Control"] == CACHE_CONTROL
    assert len(ran) == 0


@both_apis
@pytest.mark.parametrize(
    "held",
    [
        lambda etag: etag.removeprefix("W/"),  # the same ETag, sent as a strong one
        lambda etag: f'"other", {etag}',  # one of several copies
        lambda etag: "*",  # any copy
    ],
    ids=["strong", "list", "star"],
)
def test_if_none_match_compares_weakly_and_takes_a_list(api, shelf, held) -> None:
    etag = call(api, "get", "catalog/products").headers["ETag"]

    answer = call(api, "get", "catalog/products", headers={"If-None-Match": held(etag)})

    assert answer.status == 304


@both_apis
def test_another_query_has_another_etag(api, shelf) -> None:
    by_name = call(api, "get", "catalog/products").headers["ETag"]

    answer = call(api, "get", "catalog/products?sort=price", headers={"If-None-Match": by_name})

    assert answer.status == 200
    assert answer.headers["ETag"] != by_name


@both_apis
@both_paths
def test_a_stock_change_changes_the_etag(api, shelf, detail) -> None:
    old = call(api, "get", path_of(shelf, detail)).headers["ETag"]
    stock = Stock.objects.get(variant=variant_of(shelf["dress"]))
    stock.quantity = 3
    stock.save(update_fields=["quantity"])  # as the admin saves it

    answer = call(api, "get", path_of(shelf, detail), headers={"If-None-Match": old})

    assert answer.status == 200
    assert answer.headers["ETag"] != old
    body = answer.body if detail else answer.body["results"][1]  # sorted by price: the dress
    assert body["variants"][0]["available"] == 3


@both_apis
def test_a_price_change_changes_the_etag(api, shelf) -> None:
    old = call(api, "get", "catalog/products").headers["ETag"]
    dress = shelf["dress"]
    dress.price = Decimal("79.00")
    dress.save(update_fields=["price"])

    answer = call(api, "get", "catalog/products", headers={"If-None-Match": old})

    assert answer.status == 200
    assert answer.headers["ETag"] != old


@both_apis
def test_a_new_catalog_version_with_the_same_body_keeps_the_etag(api, shelf) -> None:
    old = call(api, "get", "catalog/products").headers["ETag"]
    make_product(name="Hidden Hat").delete()  # two writes: the version moves on twice

    answer = call(api, "get", "catalog/products", headers={"If-None-Match": old})

    assert answer.status == 304  # rebuilt from the database, the same body, the same ETag


@both_apis
def test_an_orders_stock_change_changes_the_etag_when_the_cached_answer_expires(api, shelf) -> None:
    path = path_of(shelf, detail=True)
    old = call(api, "get", path).headers["ETag"]
    variant = variant_of(shelf["dress"])
    order_place(user=make_user(), items=[OrderItem(variant_id=variant.pk, quantity=1)])

    assert call(api, "get", path, headers={"If-None-Match": old}).status == 304  # cached
    catalog_changed()  # what CATALOG_CACHE_S seconds do
    answer = call(api, "get", path, headers={"If-None-Match": old})
    assert answer.status == 200
    assert answer.headers["ETag"] != old


@both_apis
def test_without_redis_the_etag_still_answers_304(api, shelf, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "fashionistar.observability.cache.MeteredRedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    etag = call(api, "get", "catalog/products").headers["ETag"]

    assert call(api, "get", "catalog/products", headers={"If-None-Match": etag}).status == 304


@both_apis
@pytest.mark.parametrize("path", ["catalog/products", "catalog/products/{slug}"])
def test_the_schemas_declare_the_etag_and_the_304(api, path) -> None:
    op = operation(api, "get", path)

    assert parameter(op, "If-None-Match") == {"type": "string"}
    for status in ("200", "304"):
        headers = op["responses"][status]["headers"]
        assert headers["ETag"]["required"] is True, status
        assert headers["Cache-Control"]["required"] is True, status
    assert "content" not in op["responses"]["304"]


def test_the_drf_products_written_out_representation_is_the_one_its_fields_declare(
    shelf, monkeypatch
) -> None:
    Stock.objects.filter(variant__product=shelf["coat"]).delete()  # a variant without stock
    products = list(product_list())
    written_out = ProductSerializer(products, many=True).data

    declared_path = serializers.Serializer.to_representation
    for serializer in (ProductSerializer, VariantSerializer):
        monkeypatch.setattr(serializer, "to_representation", declared_path)
    declared = ProductSerializer(products, many=True).data

    assert written_out == declared
    assert [list(product) for product in written_out] == [list(p) for p in declared]
    assert {variant["available"] for variant in written_out[-1]["variants"]} == {0}  # the coat
