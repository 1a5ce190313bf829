"""Catalog reads: search, filter and sort, one lazy queryset for both APIs."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Prefetch, QuerySet
from redis.exceptions import RedisError

from fashionistar.catalog.models import CURRENCIES, Product, Variant
from fashionistar.kernel.errors import ApplicationError, NotFound
from fashionistar.kernel.idempotency import canonical_fingerprint
from fashionistar.observability.metrics import CATALOG_FROM_CACHE, CATALOG_FROM_DATABASE

SORTS = {
    "name": ("name", "pk"),
    "-name": ("-name", "-pk"),
    "price": ("price", "pk"),
    "-price": ("-price", "-pk"),
    "newest": ("-created_at", "-pk"),
}
"""Sort keys the APIs accept, each ending on pk so that pages never overlap."""


logger = logging.getLogger(__name__)

CATALOG_VERSION = "catalog:version"
"""The cache key of the catalog's version: every cached answer's key carries it."""


class InvalidQuery(ApplicationError):
    """A catalog query the shop does not understand."""

    code = "invalid_query"


# --8<-- [start:product_list]
def product_list(
    *,
    search: str = "",
    category: str = "",
    currency: str = "",
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    sort: str = "name",
) -> QuerySet[Product]:
    """Return active products matching the filters, with category and variants loaded.

    Args:
        search: Words to find in the name or description (case-insensitive), each one
            anywhere in ``search_text``.
        category: A category slug.
        currency: Only prices in this currency.
        min_price: Lowest price, inclusive.
        max_price: Highest price, inclusive.
        sort: One of :data:`SORTS`.

    Returns:
        A lazy queryset: sync code iterates it, async code uses ``async for`` or
        ``AsyncPaginator``.

    Raises:
        InvalidQuery: An unknown sort or currency, or a price range that is empty.
    """
    if sort not in SORTS:
        raise InvalidQuery(f"Unknown sort {sort!r}.", extra={"allowed": sorted(SORTS)})
    if currency and currency not in CURRENCIES:
        raise InvalidQuery(f"Unknown currency {currency!r}.", extra={"allowed": list(CURRENCIES)})
    if min_price is not None and max_price is not None and min_price > max_price:
        raise InvalidQuery("min_price is greater than max_price.")
    products = Product.objects.filter(is_active=True)
    for word in search.split():  # search_text holds the name and description, case-folded
        products = products.filter(search_text__contains=word.casefold())
    if category:
        products = products.filter(category__slug=category)
    if currency:
        products = products.filter(currency=currency)
    if min_price is not None:
        products = products.filter(price__gte=min_price)
    if max_price is not None:
        products = products.filter(price__lte=max_price)
    variants = Variant.objects.select_related("stock").order_by("pk")
    return (
        products.select_related("category")
        .prefetch_related(Prefetch("variants", queryset=variants))
        .order_by(*SORTS[sort])
    )


# --8<-- [end:product_list]


def product_get(*, slug: str) -> Product:
    """Return one active product by slug.

    Args:
        slug: The product's slug.

    Returns:
        The product, with category and variants loaded.

    Raises:
        NotFound: No active product has that slug.
    """
    product = product_list().filter(slug=slug).first()
    if product is None:
        raise NotFound("Product not found.", extra={"slug": slug})
    return product


async def aproduct_get(*, slug: str) -> Product:
    """Async twin of :func:`product_get`.

    Args:
        slug: The product's slug.

    Returns:
        The product.

    Raises:
        NotFound: No active product has that slug.
    """
    product = await product_list().filter(slug=slug).afirst()
    if product is None:
        raise NotFound("Product not found.", extra={"slug": slug})
    return product


# --8<-- [start:catalog_cached]
@dataclass(frozen=True)
class CatalogAnswer[T]:
    """A catalog answer and its ETag.

    Attributes:
        body: The answer, JSON-ready.
        etag: A weak ETag, ``W/"<hash of the body>"``: the same body always has the same one,
            whichever request built it, so a client's copy stays valid until the body changes.
    """

    body: T
    etag: str


def _answer[T](body: T) -> CatalogAnswer[T]:
    return CatalogAnswer(body, f'W/"{canonical_fingerprint({"body": body})[:32]}"')


def _cache_key(kind: str, parts: Mapping[str, Any], version: Any) -> str:
    digest = hashlib.sha256(repr(sorted(parts.items())).encode()).hexdigest()[:32]
    # "tagged": the entry holds the answer with its ETag (older entries held the body alone).
    return f"catalog:tagged:{kind}:{version}:{digest}"


@dataclass
class _VersionSeen:
    """The catalog version this process read last: the answer's key is guessed from it."""

    value: Any = 1


_version_seen = _VersionSeen()


def _cached_answer(kind: str, parts: Mapping[str, Any]) -> tuple[str, Any]:
    """Read the catalog's version and, in the same round trip, the answer of the last one seen.

    The version moves on only when the catalog changes, so the guess is nearly always right and
    a read costs one round trip; a wrong guess costs a second read, never a stale answer.
    """
    guess = _version_seen.value
    guessed_key = _cache_key(kind, parts, guess)
    found = cache.get_many([CATALOG_VERSION, guessed_key])
    version = found.get(CATALOG_VERSION)
    if version is None:  # no version yet (an empty or flushed cache)
        version = cache.get_or_set(CATALOG_VERSION, 1, timeout=None)
    _version_seen.value = version
    if version == guess:
        return guessed_key, found.get(guessed_key)
    key = _cache_key(kind, parts, version)
    return key, cache.get(key)


async def _acached_answer(kind: str, parts: Mapping[str, Any]) -> tuple[str, Any]:
    """:func:`_cached_answer` through the cache's async API."""
    guess = _version_seen.value
    guessed_key = _cache_key(kind, parts, guess)
    found = await cache.aget_many([CATALOG_VERSION, guessed_key])
    version = found.get(CATALOG_VERSION)
    if version is None:
        version = await cache.aget_or_set(CATALOG_VERSION, 1, timeout=None)
    _version_seen.value = version
    if version == guess:
        return guessed_key, found.get(guessed_key)
    key = _cache_key(kind, parts, version)
    return key, await cache.aget(key)


def catalog_cached[T](
    *, kind: str, parts: Mapping[str, Any], build: Callable[[], T]
) -> CatalogAnswer[T]:
    """Return a catalog answer and its ETag from the cache, or build both and cache them.

    The key holds the catalog's version, which every ORM write to the catalog moves on (see
    :func:`fashionistar.catalog.services.catalog_changed`): a stale answer is never read again,
    and expires after ``CATALOG_CACHE_S``. The version and the answer are read in one round trip
    (:func:`_cached_answer`). The ETag is a hash of the body, computed once when it is built and
    kept beside it, so a conditional request is answered from that same read. Without Redis, or
    with ``CATALOG_CACHE_S`` at 0 (the cache off), the answer is built every time.

    Args:
        kind: What the answer is (``drf-list``, ``ninja-detail``, ...).
        parts: What the answer depends on: validated filters, page, slug.
        build: Makes the answer (a JSON-ready value).

    Returns:
        The answer and its ETag.
    """
    if settings.CATALOG_CACHE_S <= 0:  # the cache is off
        CATALOG_FROM_DATABASE.inc()
        return _answer(build())
    try:
        key, found = _cached_answer(kind, parts)
    except RedisError:
        logger.warning("Catalog cache skipped: Redis did not answer", exc_info=True)
        return _answer(build())
    if found is not None:
        CATALOG_FROM_CACHE.inc()
        cached: CatalogAnswer[T] = found
        return cached
    CATALOG_FROM_DATABASE.inc()
    built = _answer(build())
    try:
        cache.set(key, built, settings.CATALOG_CACHE_S)
    except RedisError:
        logger.warning("Catalog answer not cached: Redis did not answer", exc_info=True)
    return built


async def acatalog_cached[T](
    *, kind: str, parts: Mapping[str, Any], build: Callable[[], Awaitable[T]]
) -> CatalogAnswer[T]:
    """:func:`catalog_cached` for async views: the same keys, through the cache's async API.

    Args:
        kind: What the answer is.
        parts: What the answer depends on.
        build: Makes the answer (awaited).

    Returns:
        The answer and its ETag.
    """
    if settings.CATALOG_CACHE_S <= 0:
        CATALOG_FROM_DATABASE.inc()
        return _answer(await build())
    try:
        key, found = await _acached_answer(kind, parts)
    except RedisError:
        logger.warning("Catalog cache skipped: Redis did not answer", exc_info=True)
        return _answer(await build())
    if found is not None:
        CATALOG_FROM_CACHE.inc()
        cached: CatalogAnswer[T] = found
        return cached
    CATALOG_FROM_DATABASE.inc()
    built = _answer(await build())
    try:
        await cache.aset(key, built, settings.CATALOG_CACHE_S)
    except RedisError:
        logger.warning("Catalog answer not cached: Redis did not answer", exc_info=True)
    return built


# --8<-- [end:catalog_cached]
