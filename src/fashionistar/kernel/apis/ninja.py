"""Ninja plumbing shared by every app's ``apis/ninja.py``: async auth, throttle, pagination.

Nothing here blocks the event loop: the token is looked up with the async ORM, the session
with ``request.auser()``, and the throttle counts in Redis through ``redis.asyncio``.
"""

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import MultiValueDict
from ninja import Field, Path, Schema
from ninja.parser import Parser
from ninja.security.base import AuthBase
from ninja.utils import check_csrf
from pydantic import (
    AfterValidator,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from redis.exceptions import RedisError
from rest_framework.authtoken.models import Token

from fashionistar.kernel.apis import (
    DEFAULT_PAGE_SIZE,
    ERRORS_ALWAYS,
    ETAG_HEADERS,
    ID_SCHEMA,
    IDEMPOTENCY_KEY_SCHEMA,
    IF_NONE_MATCH,
    MAX_PAGE_SIZE,
    NotAuthenticated,
    PermissionDenied,
    UnsupportedMediaType,
    api_error,
    count_known_from_page,
    is_token_key,
    page_slice,
    throttle_window,
    throttled,
)
from fashionistar.kernel.counters import aincrement

if TYPE_CHECKING:  # at run time the kernel reads the user model from settings.AUTH_USER_MODEL
    from fashionistar.accounts.models import User

logger = logging.getLogger(__name__)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _timestamp(value: datetime) -> str:
    # The same text as DRF's DateTimeField: ISO 8601 in UTC, "Z" for "+00:00".
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


Money = Annotated[Decimal, PlainSerializer(_money, return_type=str)]
"""A decimal amount, written as a string with two decimals (``"89.00"``), as in DRF."""

Timestamp = Annotated[datetime, PlainSerializer(_timestamp, return_type=str)]
"""A datetime, written as DRF writes it."""


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("Null characters are not allowed.")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""A string input without NUL characters, which PostgreSQL refuses in a query (a 500 before);
DRF's ``CharField`` refuses them too, with the same message."""

TrimmedText = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_no_nul)]
""":data:`Text` without blanks around it, checked for its length after, as DRF's ``CharField``
trims (its default): a username typed with a trailing space logs in through both APIs."""


def json_body(request: HttpRequest) -> Any:
    """Parse the body as JSON, if it is declared as JSON: what DRF's JSON parser accepts.

    Args:
        request: A request with a body.

    Returns:
        The parsed body.

    Raises:
        UnsupportedMediaType: The ``Content-Type`` is not ``application/json`` (415).
        ValueError: The body is not JSON in UTF-8 (a byte-order mark first is refused, as DRF's
            parser refuses it), or it is nested deeper than the decoder can go.
    """
    if request.content_type != "application/json":
        raise api_error(UnsupportedMediaType)
    try:
        return json.loads(request.body.decode("utf-8"))
    except RecursionError as error:
        raise ValueError("JSON nested too deep") from error


class JsonParser(Parser):
    """Ninja's parser, refusing a body sent as ``text/plain``, a form, ... (it parsed any).

    Ninja turns any parser error into its "Cannot parse request body" 400; the API's exception
    mapper answers the 415 that caused it.
    """

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        """Parse the body of an operation that has body parameters.

        Args:
            request: The request.

        Returns:
            The parsed body (Ninja validates its shape).
        """
        body: dict[str, Any] = json_body(request)
        return body


class ErrorOut(Schema):
    """The body of every error of both APIs."""

    code: str
    message: str
    extra: dict[str, Any]


def responses(ok: dict[int, Any], *errors: int) -> dict[int, Any]:
    """Declare an operation's answers for its OpenAPI schema (Ninja's ``response=``).

    Args:
        ok: The success statuses and their schemas, ``{200: ProductOut}``.
        *errors: The error statuses of this operation besides ``ERRORS_ALWAYS`` (400, 429),
            often the groups ``ERRORS_NEEDS_USER`` and ``ERRORS_WITH_BODY`` of
            :mod:`fashionistar.kernel.apis`.

    Returns:
        The statuses and schemas, every error with :class:`ErrorOut`.
    """
    return {**ok, **dict.fromkeys(sorted({*ERRORS_ALWAYS, *errors}), ErrorOut)}


PathId = Path[Annotated[int, WithJsonSchema(ID_SCHEMA)]]
"""An id in the path (``{int:order_id}``), its range stated; one that cannot exist is the
selector's 404, as an unknown one is, and as in DRF."""

CONDITIONAL_GET: dict[str, Any] = {
    "parameters": [IF_NONE_MATCH],
    "responses": {200: {"headers": ETAG_HEADERS}, 304: {"headers": ETAG_HEADERS}},
}
"""The ``openapi_extra`` of an operation answering with an ``ETag`` (its ``response`` has
``304: None``): the request header, its answers' headers."""


def idempotency_key_header(*, required: bool) -> dict[str, Any]:
    """Declare the ``Idempotency-Key`` header with its form, for ``openapi_extra``.

    The service reads the header and refuses a malformed key with its own 400.

    Args:
        required: The operation refuses a request without one.

    Returns:
        The OpenAPI parameter.
    """
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": required,
        "schema": IDEMPOTENCY_KEY_SCHEMA,
    }


class PageQuery(Schema):
    """``page`` and ``page_size`` query parameters.

    A blank parameter (``?page=``) counts as not given, as DRF treats blank optional fields.
    """

    page: int = Field(1, ge=1)
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        if value == "" and info.field_name is not None:
            return cls.model_fields[info.field_name].default
        return value


class Page[T](Schema):
    """The envelope of every list, the same in both APIs."""

    count: int
    page: int
    page_size: int
    results: list[T]


async def apaginate[M: Model, T](
    queryset: QuerySet[M],
    *,
    page: int,
    page_size: int,
    serialize: Callable[[M], T],
) -> Page[T]:
    """Cut one page out of a queryset with the async ORM, as DRF's ``paginate`` does.

    The page is read first; the whole list is counted only when the page cannot tell
    (:func:`~fashionistar.kernel.apis.count_known_from_page`).

    Args:
        queryset: An ordered queryset (prefetches run when the page is fetched).
        page: The page number, from 1.
        page_size: Items per page.
        serialize: Turns one object of the page into its schema.

    Returns:
        The page envelope.

    Raises:
        NotFound: The page is past the last one (page 1 always exists).
    """
    objects = [obj async for obj in queryset[page_slice(page=page, page_size=page_size)]]
    count = count_known_from_page(page=page, page_size=page_size, rows=len(objects))
    return Page(
        count=await queryset.acount() if count is None else count,
        page=page,
        page_size=page_size,
        results=[serialize(obj) for obj in objects],
    )


# --8<-- [start:async_token_auth]
class AsyncTokenAuth(AuthBase):
    """``Authorization: Token <key>``, looked up with the async ORM (DRF's token table)."""

    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = "Authorization"

    async def __call__(self, request: HttpRequest) -> "User | None":
        """Return the token's user; ``None`` without a token, so that the session is tried.

        A token that fails is a 401 even with a session cookie, as in DRF: the client said who
        it is, and it is not.

        Args:
            request: The request.

        Returns:
            The active user owning the token, or ``None`` when the request sends no token.

        Raises:
            ApplicationError: A token that is malformed, unknown, or whose user is inactive (401).
        """
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "token":
            return None
        user = await self.authenticate(request, key.strip())
        if user is None:
            raise api_error(NotAuthenticated)
        return user

    async def authenticate(self, request: HttpRequest, key: str) -> "User | None":
        """Look the key up.

        Args:
            request: The request.
            key: The token key.

        Returns:
            The active user owning the token, else ``None``.
        """
        if not is_token_key(key):
            return None  # a key PostgreSQL would refuse (a NUL character) is not looked up
        try:
            token = await Token.objects.select_related("user").aget(key=key)
        except Token.DoesNotExist:
            return None
        user = token.user
        if not isinstance(user, get_user_model()) or not user.is_active:
            return None
        request.user = user  # what the audit middleware and Django's helpers read
        return user


FORM_CONTENT_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
"""The bodies Django parses into ``request.POST``, where its CSRF check looks for the token."""


class AsyncSessionAuth(AuthBase):
    """Django's session, read with ``request.auser()``; unsafe methods need a CSRF token."""

    openapi_type = "apiKey"
    openapi_in = "cookie"
    openapi_name = settings.SESSION_COOKIE_NAME

    async def __call__(self, request: HttpRequest) -> "User | None":
        """Return the session's user, or ``None``.

        Args:
            request: The request.

        Returns:
            The logged-in user, else ``None``.

        Raises:
            ApplicationError: A logged-in user's unsafe request without a valid CSRF token (403).
        """
        user = await request.auser()
        if not isinstance(user, get_user_model()) or not user.is_authenticated:
            return None
        if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
            if request.content_type in FORM_CONTENT_TYPES:
                # The API reads JSON only (a form is a 415 once past this check): the token
                # comes from the header, and Django's check does not parse the form on the
                # event loop (nor fail on a malformed one), as Django itself marks it read.
                request._post, request._files = QueryDict(), MultiValueDict()  # type: ignore[attr-defined]
            if check_csrf(request):
                raise api_error(PermissionDenied, reason="csrf")
        return user


# --8<-- [end:async_token_auth]

auth = [AsyncTokenAuth(), AsyncSessionAuth()]
"""The auth of every endpoint that needs a user: a token, else the session."""


# --8<-- [start:async_throttle]
async def throttle_check(request: HttpRequest) -> None:
    """Count the request in a fixed window in Redis; refuse it past the rate.

    Authenticated requests count per user (rate ``API_THROTTLE_RATES["user"]``), anonymous ones
    per IP (``["anon"]``). ``INCR`` and ``EXPIRE`` go in one ``MULTI`` through
    ``redis.asyncio``, so the event loop never waits on a socket. If Redis is down the request
    is let through (and logged): throttling protects the shop, it must not take it down.

    Args:
        request: The request (``request.auth`` is set by the auth classes).

    Raises:
        Throttled: Over the rate (429; ``Retry-After`` says when the window ends).
    """
    user = getattr(request, "auth", None)
    user_id = user.pk if isinstance(user, get_user_model()) else None
    window = throttle_window(api="ninja", user_id=user_id, request=request)
    try:
        count = await aincrement(window.key, ttl_s=window.seconds)
    except RedisError:
        logger.warning("Throttle skipped: Redis did not answer", exc_info=True)
        return
    if count > window.limit:
        raise throttled(window.wait)


def async_throttle[T](
    operation: Callable[..., Awaitable[T]],
) -> Callable[..., Awaitable[T]]:
    """Throttle an async Ninja operation (put it under the ``@router`` decorator).

    Ninja's own throttles call the cache synchronously, which would block the event loop on a
    Redis round trip. This check runs after authentication (so it can count per user) and
    raises :class:`fashionistar.kernel.apis.Throttled`, which the API maps to 429 with
    ``Retry-After``.
    The decorated module must not use ``from __future__ import annotations``: Ninja resolves
    string annotations in the wrapper's module.

    Args:
        operation: The operation.

    Returns:
        The throttled operation.
    """

    @functools.wraps(operation)
    async def throttled_operation(request: HttpRequest, *args: Any, **kwargs: Any) -> T:
        await throttle_check(request)
        return await operation(request, *args, **kwargs)

    return throttled_operation


# --8<-- [end:async_throttle]


def auth_user(request: HttpRequest) -> "User":
    """Return the user the auth classes put on the request.

    Args:
        request: An authenticated request.

    Returns:
        The user.

    Raises:
        TypeError: The operation has no auth (a bug).
    """
    user = getattr(request, "auth", None)
    if not isinstance(user, get_user_model()):
        raise TypeError("This operation needs auth=auth")
    return user
