"""DRF plumbing shared by every app's ``apis/drf.py``: throttles, pagination, validation.

The base view of every API view is in :mod:`fashionistar.kernel.apis.drf_view`: this module is
imported by ``rest_framework.views`` itself (through the throttle settings), so it must not
import that module.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_serializer,
    inline_serializer,
)
from redis.exceptions import RedisError
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from fashionistar.kernel.apis import (
    DEFAULT_PAGE_SIZE,
    ERRORS_ALWAYS,
    ETAG_HEADERS,
    ID_SCHEMA,
    IDEMPOTENCY_KEY_SCHEMA,
    IF_NONE_MATCH,
    MAX_PAGE_SIZE,
    count_known_from_page,
    page_slice,
    throttle_window,
)
from fashionistar.kernel.counters import increment

logger = logging.getLogger(__name__)


class RateThrottle(BaseThrottle):
    """The Ninja API's throttle, for DRF: a fixed window per user (or IP), one Redis round trip.

    DRF's own throttles keep each client's request history in the cache, read and written back
    on every request (two round trips per throttle, with a race between them); this one adds
    one to a counter that expires with its window
    (:func:`fashionistar.kernel.apis.throttle_window`).
    """

    def __init__(self) -> None:
        self.refused_for = 0

    def allow_request(self, request: Request, view: Any) -> bool:
        """Count the request; let it through when Redis does not answer.

        Throttling protects the shop, it must not take it down: the same rule as the Ninja
        API's throttle.

        Args:
            request: The request (authenticated by now).
            view: The view.

        Returns:
            Whether the request may go on.
        """
        user_id = request.user.pk if request.user.is_authenticated else None
        window = throttle_window(api="drf", user_id=user_id, request=request._request)
        try:
            count = increment(window.key, ttl_s=window.seconds)
        except RedisError:
            logger.warning("Throttle skipped: Redis did not answer", exc_info=True)
            return True
        self.refused_for = window.wait
        return count <= window.limit

    def wait(self) -> int:
        """Seconds until the next window (DRF's ``Retry-After``).

        Returns:
            The seconds.
        """
        return self.refused_for


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer[Any]):
    """The body of every error of both APIs."""

    code = serializers.CharField()
    message = serializers.CharField()
    extra = serializers.DictField()


def responses(ok: dict[int, Any], *errors: int) -> dict[int, Any]:
    """Declare a view's answers for its OpenAPI schema (``extend_schema(responses=...)``).

    Args:
        ok: The success statuses and their serializers, ``{200: ProductSerializer}``.
        *errors: The error statuses of this view besides ``ERRORS_ALWAYS`` (400, 429), often
            the groups ``ERRORS_NEEDS_USER`` and ``ERRORS_WITH_BODY`` of
            :mod:`fashionistar.kernel.apis`.

    Returns:
        The statuses and serializers, every error with :class:`ErrorSerializer`.
    """
    return {**ok, **dict.fromkeys(sorted({*ERRORS_ALWAYS, *errors}), ErrorSerializer)}


NOT_MODIFIED = OpenApiResponse(description="Not Modified: the copy the client holds is current.")
"""The 304 of a conditional GET, without a body (``responses({200: ..., 304: NOT_MODIFIED})``)."""

CONDITIONAL_GET = [
    OpenApiParameter(
        IF_NONE_MATCH["name"],
        str,
        OpenApiParameter.HEADER,
        description=IF_NONE_MATCH["description"],
    ),
    *(
        OpenApiParameter(
            name,
            str,
            OpenApiParameter.HEADER,
            required=header["required"],
            description=header["description"],
            response=[200, 304],
        )
        for name, header in ETAG_HEADERS.items()
    ),
]
"""The ``parameters`` of a view answering with an ``ETag``: the request header, its answers'."""


def id_parameter(name: str) -> OpenApiParameter:
    """Declare a path id (``order_id``) with its range.

    Args:
        name: The path parameter.

    Returns:
        The parameter, for ``extend_schema(parameters=...)``.
    """
    return OpenApiParameter(name, ID_SCHEMA, OpenApiParameter.PATH)


def idempotency_key_parameter(*, required: bool) -> OpenApiParameter:
    """Declare the ``Idempotency-Key`` header with its form.

    Args:
        required: The operation refuses a request without one.

    Returns:
        The parameter, for ``extend_schema(parameters=...)``.
    """
    return OpenApiParameter(
        "Idempotency-Key", IDEMPOTENCY_KEY_SCHEMA, OpenApiParameter.HEADER, required=required
    )


def page_of(name: str, item: serializers.Serializer[Any]) -> serializers.Serializer[Any]:
    """Describe the page envelope of a list for the OpenAPI schema.

    Args:
        name: The component's name, ``ProductPage``.
        item: An instance of the serializer of one result.

    Returns:
        A serializer of ``{"count", "page", "page_size", "results"}``.
    """
    return inline_serializer(
        name,
        {
            "count": serializers.IntegerField(),
            "page": serializers.IntegerField(),
            "page_size": serializers.IntegerField(),
            "results": serializers.ListField(child=item),
        },
    )


class StringField(serializers.CharField):
    """A ``CharField`` that takes a JSON string only, as Pydantic's ``str`` in the async API.

    DRF's own turns a number into its text, so ``{"username": 123}`` would look ``"123"`` up in
    one API and be invalid input in the other.
    """

    def to_internal_value(self, data: Any) -> str:
        """Refuse anything but a string, then validate as a ``CharField``.

        Args:
            data: The field's JSON value.

        Returns:
            The string, trimmed unless ``trim_whitespace=False``.

        Raises:
            ValidationError: Not a string ("Not a valid string.").
        """
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PageInput(serializers.Serializer[Any]):
    """``page`` and ``page_size`` query parameters; the base of the lists' filter serializers.

    DRF gives every serializer a deep copy of its declared fields, which builds each field
    again: for a list's filters, most of the CPU of validating its query string, on every
    request. A filter serializer only reads its fields, so each instance gets a shallow copy
    of each one instead (DRF binds the copy to the instance; what the copies share, such as
    validators and choices, nothing here changes).
    """

    page = serializers.IntegerField(min_value=1, default=1)
    page_size = serializers.IntegerField(
        min_value=1, max_value=MAX_PAGE_SIZE, default=DEFAULT_PAGE_SIZE
    )

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        """Copy the declared fields shallowly, not deeply.

        Returns:
            A copy of each declared field, for DRF to bind to this serializer.
        """
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}


def paginate[M: Model](
    queryset: QuerySet[M],
    *,
    page: int,
    page_size: int,
    serialize: Callable[[list[M]], Any],
) -> dict[str, Any]:
    """Cut one page out of a queryset and wrap it in the envelope both APIs answer with.

    The page is read first; the whole list is counted only when the page cannot tell
    (:func:`~fashionistar.kernel.apis.count_known_from_page`).

    Args:
        queryset: An ordered queryset.
        page: The page number, from 1.
        page_size: Items per page.
        serialize: Turns the page's objects into JSON-ready data.

    Returns:
        ``{"count", "page", "page_size", "results"}``.

    Raises:
        NotFound: The page is past the last one (page 1 always exists).
    """
    objects = list(queryset[page_slice(page=page, page_size=page_size)])
    count = count_known_from_page(page=page, page_size=page_size, rows=len(objects))
    return {
        "count": queryset.count() if count is None else count,
        "page": page,
        "page_size": page_size,
        "results": serialize(objects),
    }


def validated(serializer: serializers.Serializer[Any]) -> dict[str, Any]:
    """Validate a serializer (DRF raises ``ValidationError``; the handler maps it to 400).

    Args:
        serializer: An unvalidated serializer with ``data``.

    Returns:
        Its validated data.
    """
    serializer.is_valid(raise_exception=True)
    data: dict[str, Any] = dict(serializer.validated_data)
    return data


__all__ = [
    "CONDITIONAL_GET",
    "NOT_MODIFIED",
    "ErrorSerializer",
    "PageInput",
    "RateThrottle",
    "id_parameter",
    "idempotency_key_parameter",
    "page_of",
    "paginate",
    "responses",
    "validated",
]
