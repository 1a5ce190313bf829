"""What both API flavours share: the error shape, input limits, conditional GETs, the client's IP.

``drf`` holds the DRF plumbing (parser, throttles, pagination), ``ninja`` the Ninja plumbing
(async auth, async throttle, async pagination). The exception mappers live in
:mod:`fashionistar.project.api`.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseNotModified
from django.utils.http import parse_etags

from fashionistar.kernel.config import parse_rate
from fashionistar.kernel.errors import ApplicationError, NotFound
from fashionistar.kernel.idempotency import MAX_KEY_LENGTH

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_ROWS = 2**63 - 1
"""PostgreSQL's ``OFFSET`` and ``LIMIT`` are ``bigint``s."""

# --8<-- [start:error_groups]
# The error statuses that the OpenAPI schemas of both APIs declare, each with the error shape
# ``{"code", "message", "extra"}``; an operation adds its own (404, 409, ...) to these groups.
ERRORS_ALWAYS = (400, 429)
"""Any operation: a parameter or body that does not validate; too many requests."""
ERRORS_NEEDS_USER = (401, 403)
"""Operations that need a user: no or bad credentials; a session without its CSRF token."""
ERRORS_WITH_BODY = (413, 415)
"""Operations that read a JSON body: the body is too large; it is not JSON."""
# --8<-- [end:error_groups]


class InvalidInput(ApplicationError):
    """The request's fields do not validate; ``extra["fields"]`` says which, and why."""

    code = "invalid_input"


class MalformedRequest(ApplicationError):
    """The body is not JSON."""

    code = "malformed_request"


class NotAuthenticated(ApplicationError):
    """No credentials, or wrong ones."""

    status_code = 401
    code = "not_authenticated"


class PermissionDenied(ApplicationError):
    """Authenticated, but not allowed (for example a failed CSRF check)."""

    status_code = 403
    code = "permission_denied"


class MethodNotAllowed(ApplicationError):
    """The path exists, the method does not."""

    status_code = 405
    code = "method_not_allowed"


class RequestTooLarge(ApplicationError):
    """The body is larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE``."""

    status_code = 413
    code = "request_too_large"


class UnsupportedMediaType(ApplicationError):
    """The body is not ``application/json``."""

    status_code = 415
    code = "unsupported_media_type"


class Throttled(ApplicationError):
    """Too many requests; ``extra["retry_after"]`` seconds until the next window."""

    status_code = 429
    code = "throttled"


class ServerError(ApplicationError):
    """A bug: logged with its traceback, answered without details."""

    status_code = 500
    code = "server_error"


# Fixed messages, so that both APIs answer the same bytes for the same failure.
MESSAGES = {
    InvalidInput: "Invalid input.",
    MalformedRequest: "The request body is not valid JSON.",
    NotAuthenticated: "Authentication credentials were not provided or are not valid.",
    PermissionDenied: "You do not have permission to do this.",
    MethodNotAllowed: "Method not allowed.",
    RequestTooLarge: "The request body is too large.",
    UnsupportedMediaType: "The request body must be application/json.",
    Throttled: "Too many requests.",
    ServerError: "Internal server error.",
}


def api_error(kind: type[ApplicationError], **extra: Any) -> ApplicationError:
    """Build one of the framework errors above with its fixed message.

    Args:
        kind: The error class.
        **extra: Its ``extra``.

    Returns:
        The error, ready to raise or to render with ``as_dict()``.
    """
    return kind(MESSAGES.get(kind, "Error."), extra=extra)


def throttled(wait: int) -> Throttled:
    """Build the 429 error.

    Args:
        wait: Seconds until the client may retry.

    Returns:
        The error; ``extra["retry_after"]`` matches the ``Retry-After`` header.
    """
    error = api_error(Throttled, retry_after=wait)
    assert isinstance(error, Throttled)  # api_error builds the class it is given
    return error


def retry_after(error: ApplicationError) -> int | None:
    """Return the ``Retry-After`` seconds of a 429 error, else ``None``.

    Args:
        error: Any application error.

    Returns:
        The seconds, or ``None``.
    """
    if isinstance(error, Throttled):
        return int(error.extra.get("retry_after", 1))
    return None


def page_not_found(page: int) -> NotFound:
    """Build the 404 for a page past the last one.

    Args:
        page: The page asked for.

    Returns:
        The error.
    """
    return NotFound("Page not found.", extra={"page": page})


def page_slice(*, page: int, page_size: int) -> slice:
    """The rows of one page, as a queryset slice.

    Args:
        page: The page number, from 1.
        page_size: Items per page.

    Returns:
        The slice.

    Raises:
        NotFound: The page starts past any list a database can hold (its ``OFFSET`` would not
            fit in a ``bigint``): it is past the last one.
    """
    start = (page - 1) * page_size
    if start + page_size > MAX_ROWS:
        raise page_not_found(page)
    return slice(start, start + page_size)


# --8<-- [start:count_known_from_page]
def count_known_from_page(*, page: int, page_size: int, rows: int) -> int | None:
    """The number of items of the whole list, when the page that was read tells it.

    Django's ``Paginator`` counts first (``SELECT COUNT(*)``), then reads the page. A page
    shorter than ``page_size`` is the last one, so the count is the rows before it plus its own,
    and the most common list, one page long, costs no ``COUNT``.

    Args:
        page: The page number, from 1.
        page_size: Items per page.
        rows: Rows the page's query returned.

    Returns:
        The count, or ``None`` when only a ``COUNT`` can tell (a full page).

    Raises:
        NotFound: The page is past the last one (page 1 always exists, empty or not).
    """
    if rows == 0 and page > 1:
        raise page_not_found(page)
    if rows < page_size:
        return (page - 1) * page_size + rows
    return None


# --8<-- [end:count_known_from_page]


def invalid_input(fields: Mapping[str, Sequence[str]]) -> InvalidInput:
    """Build the 400 for fields that do not validate.

    Args:
        fields: Messages by dotted field path (``items.0.quantity``).

    Returns:
        The error: ``extra = {"fields": {path: [message, ...]}}``.
    """
    error = api_error(InvalidInput, fields={path: list(msgs) for path, msgs in fields.items()})
    assert isinstance(error, InvalidInput)  # api_error builds the class it is given
    return error


MAX_TOKEN_KEY_LENGTH = 40  # rest_framework.authtoken's Token.key
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
"""What a product slug can be (Django's ``SlugField``): anything else is refused as input."""

# --8<-- [start:input_rules]
# Rules both OpenAPI schemas state. Most are checked where the schema comes from (a pydantic
# field, a DRF serializer field), and again by the service. Where only the service reads the
# value (an Idempotency-Key, a path id), the schema states the rule and the service answers a
# request that breaks it with its own 4xx.
MAX_ID = 2**63 - 1
"""The largest id a PostgreSQL ``bigint`` holds."""
ID_SCHEMA: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
"""A path id (``orders/{order_id}``): any other number is a 404, as an unknown id is."""
IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_KEY_LENGTH,
    # Printable ASCII (kernel.idempotency.key_validate); HTTP trims spaces at either end.
    "pattern": r"^[!-~](?:[ -~]*[!-~])?$",
}
"""An ``Idempotency-Key`` header, as ``kernel.idempotency.key_validate`` takes it."""
PRICE_PATTERN = r"^\d{1,8}(?:\.\d{1,2})?$"
"""A price filter: up to 8 digits and 2 decimals, never negative (a ``DecimalField(10, 2)``)."""
# --8<-- [end:input_rules]

# --8<-- [start:conditional_get]
ETAG_HEADERS: dict[str, Any] = {
    "ETag": {
        "description": "Weak validator of the body; send it back in If-None-Match.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Cache-Control": {
        "description": "Whether and how long a copy may be used without asking again.",
        "required": True,
        "schema": {"type": "string"},
    },
}
"""The response headers of an answer that has an ``ETag``, as OpenAPI declares them."""
IF_NONE_MATCH: dict[str, Any] = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "ETags of the copies the client holds (or *): 304 if one is current.",
    "schema": {"type": "string"},
}
"""The request header of a conditional GET, as OpenAPI declares it."""


def not_modified(
    request: HttpRequest, *, etag: str, cache_control: str
) -> HttpResponseNotModified | None:
    """Answer ``304 Not Modified`` when the client already holds the current body.

    ``If-None-Match`` is compared weakly (RFC 9110, 13.1.2): ``W/"x"`` matches ``"x"``, and
    ``*`` matches any current body. Only that header is read: an operation answering with an
    ``ETag`` has no other validator.

    Args:
        request: A ``GET`` request.
        etag: The current body's ETag.
        cache_control: The ``Cache-Control`` of the full answer, repeated on the 304.

    Returns:
        The 304, without a body, or ``None``: answer in full.
    """
    header = request.headers.get("If-None-Match")
    if header is None:
        return None
    held = {tag.removeprefix("W/") for tag in parse_etags(header)}
    if "*" not in held and etag.removeprefix("W/") not in held:
        return None
    response = HttpResponseNotModified()
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response


# --8<-- [end:conditional_get]


def is_token_key(key: str) -> bool:
    """Say whether a string can be an API token's key: up to 40 ASCII letters and digits.

    Both APIs check this before looking a key up, so that a key that cannot exist (for example
    one with a NUL character, which PostgreSQL refuses in a query) fails authentication (401)
    instead of reaching the database.

    Args:
        key: The key from the ``Authorization`` header.

    Returns:
        Whether it is worth looking up.
    """
    return 0 < len(key) <= MAX_TOKEN_KEY_LENGTH and key.isascii() and key.isalnum()


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP address.

    ``REMOTE_ADDR`` unless ``settings.TRUST_X_FORWARDED_FOR`` says a proxy in front sets
    ``X-Forwarded-For`` (then its first entry). A value that is not an IP address gives ``None``.

    Args:
        request: The request.

    Returns:
        The address, or ``None``.
    """
    raw = request.META.get("REMOTE_ADDR", "")
    if getattr(settings, "TRUST_X_FORWARDED_FOR", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            raw = forwarded.split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


@dataclass(frozen=True)
class ThrottleWindow:
    """The fixed window a request counts in: both APIs throttle the same way.

    Attributes:
        key: The Redis counter of this client's current window.
        limit: Requests allowed in it.
        seconds: The window's length (the counter's time to live).
        wait: Seconds until the next window, the ``Retry-After`` of a refusal.
    """

    key: str
    limit: int
    seconds: int
    wait: int


def throttle_window(*, api: str, user_id: object, request: HttpRequest) -> ThrottleWindow:
    """Find the window a request counts in: per user when authenticated, else per IP.

    Authenticated requests use the rate ``settings.API_THROTTLE_RATES["user"]``, anonymous ones
    ``["anon"]``.

    Args:
        api: Which API counts (each has its own counters).
        user_id: The authenticated user's primary key, or ``None``.
        request: The request (its client IP identifies an anonymous client).

    Returns:
        The window.
    """
    if user_id is not None:
        scope, ident = "user", str(user_id)
    else:
        scope, ident = "anon", client_ip(request) or "unknown"
    limit, seconds = parse_rate(settings.API_THROTTLE_RATES[scope])
    now = time.time()
    return ThrottleWindow(
        key=f"throttle:{api}:{scope}:{ident}:{seconds}:{int(now // seconds)}",
        limit=limit,
        seconds=seconds,
        wait=window_wait(seconds, now=now),
    )


def window_wait(window: int, *, now: float | None = None) -> int:
    """Return the seconds left in the current fixed window (at least 1).

    Args:
        window: The window length in seconds.
        now: The current UNIX time (for tests).

    Returns:
        Whole seconds, rounded up.
    """
    current = time.time() if now is None else now
    return max(1, math.ceil(window - current % window))
