"""The Ninja API object and the two exception mappers: one error shape for both APIs.

Every 4xx (and the rare 5xx) of either API has the body ``{"code", "message", "extra"}``:
domain errors (:class:`fashionistar.kernel.errors.ApplicationError`) as they are, framework errors
(validation, malformed JSON, authentication, throttling, oversize bodies) translated once per
API flavour here.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import Error
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.http.response import HttpResponseBase
from django.urls import URLPattern, URLResolver
from django.views.defaults import page_not_found
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from fashionistar.accounts.apis.ninja import router as accounts_router
from fashionistar.catalog.apis.ninja import router as catalog_router
from fashionistar.kernel.apis import (
    MalformedRequest,
    MethodNotAllowed,
    NotAuthenticated,
    PermissionDenied,
    RequestTooLarge,
    ServerError,
    UnsupportedMediaType,
    api_error,
    invalid_input,
    retry_after,
    throttled,
)
from fashionistar.kernel.apis.ninja import JsonParser
from fashionistar.kernel.errors import (
    ApplicationError,
    DatabaseUnavailable,
    NotFound,
    lost_the_database,
)
from fashionistar.orders.apis.ninja import router as orders_router
from fashionistar.payments.apis.ninja import router as payments_router

logger = logging.getLogger(__name__)

AUTH_HEADER = "Token"
"""The ``WWW-Authenticate`` challenge of a 401, in both APIs."""


def not_found() -> NotFound:
    """Build the 404 of an unknown path or a framework-level "not found".

    Returns:
        The error.
    """
    return NotFound("Not found.")


def database_unavailable(exc: Error) -> DatabaseUnavailable:
    """Build the 503 of a database that did not answer; log it as a warning, without traceback.

    Args:
        exc: Django's wrapper of the driver's error (connection refused, closed, timed out).

    Returns:
        The error.
    """
    logger.warning("Database unavailable: %s", exc)
    return DatabaseUnavailable()


def error_headers(error: ApplicationError) -> dict[str, str]:
    """Return the headers that go with an error: ``Retry-After``, ``WWW-Authenticate``.

    Args:
        error: The error.

    Returns:
        Header names and values.
    """
    headers: dict[str, str] = {}
    wait = retry_after(error)
    if wait is not None:
        headers["Retry-After"] = str(wait)
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = AUTH_HEADER
    return headers


def _drf_paths(detail: Any, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    """Flatten DRF's nested error detail into ``(dotted path, messages)``."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else str(key)
            yield from _drf_paths(value, f"{prefix}.{name}" if prefix and name else prefix or name)
    elif isinstance(detail, list) and detail and all(isinstance(d, str) for d in detail):
        yield prefix or "body", [str(d) for d in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                yield from _drf_paths(value, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix or "body", [str(detail)]


def _ninja_path(loc: list[Any], single_body_param: set[str]) -> str:
    """Turn a Ninja error location into the dotted path DRF would give."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        parts = parts[1:]
    if len(parts) > 0 and parts[0] in single_body_param:
        parts = parts[1:]
    return ".".join(parts) or "body"


# --8<-- [start:ninja_errors]
api = NinjaAPI(
    title="Fashionistar async API (Ninja)",
    version="1.0.0",
    urls_namespace="async",
    docs_url="/docs",
    parser=JsonParser(),
)
api.add_router("", catalog_router)
api.add_router("", orders_router)
api.add_router("", payments_router)
api.add_router("", accounts_router)

_BODY_PARAMS = {"payload", "filters", "query"}


def _ninja_response(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    response = api.create_response(request, error.as_dict(), status=error.status_code)
    for name, value in error_headers(error).items():
        response[name] = value
    return response


def ninja_error(request: HttpRequest, exc: Exception | type[Exception]) -> HttpResponse:
    """Map any exception an operation raised to ``{"code", "message", "extra"}``.

    Args:
        request: The request.
        exc: What was raised.

    Returns:
        The JSON response; unexpected errors are logged with their traceback and answer 500.
    """
    return _ninja_response(request, ninja_to_error(exc if isinstance(exc, Exception) else exc()))


def ninja_to_error(exc: Exception) -> ApplicationError:
    """Translate an exception raised inside the Ninja API.

    Args:
        exc: What was raised.

    Returns:
        The application error to answer with.
    """
    match exc:
        case ApplicationError():
            return exc
        case NinjaValidationError():
            fields: dict[str, list[str]] = {}
            for item in exc.errors:
                path = _ninja_path(list(item.get("loc", ())), _BODY_PARAMS)
                fields.setdefault(path, []).append(str(item.get("msg", "Invalid value.")))
            return invalid_input(fields)
        case AuthenticationError():
            return api_error(NotAuthenticated)
        case HttpError() if exc.status_code == 400:
            # Ninja's "Cannot parse request body": the parser's own 415, else not JSON.
            cause = exc.__cause__
            return cause if isinstance(cause, ApplicationError) else api_error(MalformedRequest)
        case HttpError() if exc.status_code == 403:
            return api_error(PermissionDenied)
        case HttpError() if exc.status_code == 405:
            return api_error(MethodNotAllowed)
        case HttpError() if exc.status_code == 429:
            return throttled(int(getattr(exc, "wait", None) or 1))
        case HttpError():
            error = ApplicationError(exc.message)
            error.status_code = exc.status_code
            return error
        case Http404():
            return not_found()
        case RequestDataTooBig():
            return api_error(RequestTooLarge)
        case DjangoPermissionDenied():
            return api_error(PermissionDenied)
        case SuspiciousOperation():
            logger.warning("Suspicious request refused: %s", exc)
            return ApplicationError("Bad request.")
        case Error() if lost_the_database(exc):
            return database_unavailable(exc)
    logger.error("Unexpected error in the async API", exc_info=exc)
    return api_error(ServerError)


# Ninja looks handlers up along the exception's MRO and registers its own for these classes:
# each needs ours, or its default body ({"detail": ...}) would win over the catch-all.
for _handled in (
    Exception,
    ApplicationError,
    NinjaValidationError,
    HttpError,
    Http404,
    RequestDataTooBig,
    SuspiciousOperation,
):
    api.add_exception_handler(_handled, ninja_error)
# --8<-- [end:ninja_errors]


# --8<-- [start:drf_errors]
def drf_to_error(exc: Exception) -> ApplicationError | None:
    """Translate an exception raised inside a DRF view.

    Args:
        exc: What was raised.

    Returns:
        The application error to answer with, or ``None`` for an unexpected exception.
    """
    match exc:
        case ApplicationError():
            return exc
        case drf.ValidationError():
            return invalid_input(dict(_drf_paths(exc.detail)))
        case drf.ParseError():
            return api_error(MalformedRequest)
        case drf.NotAuthenticated() | drf.AuthenticationFailed():
            return api_error(NotAuthenticated)
        case drf.PermissionDenied() if str(exc.detail).startswith("CSRF Failed"):
            return api_error(PermissionDenied, reason="csrf")
        case drf.PermissionDenied() | DjangoPermissionDenied():
            return api_error(PermissionDenied)
        case drf.NotFound() | Http404():
            return not_found()
        case drf.MethodNotAllowed():
            return api_error(MethodNotAllowed)
        case drf.UnsupportedMediaType():
            return api_error(UnsupportedMediaType)
        case drf.Throttled():
            return throttled(max(1, round(getattr(exc, "wait", None) or 1)))
        case RequestDataTooBig():
            return api_error(RequestTooLarge)
        case drf.APIException():
            error = ApplicationError(str(exc.detail))
            error.status_code = exc.status_code
            error.code = str(exc.default_code)
            return error
        case SuspiciousOperation():
            logger.warning("Suspicious request refused: %s", exc)
            return ApplicationError("Bad request.")
        case Error() if lost_the_database(exc):
            return database_unavailable(exc)
    return None


def drf_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: the same body as the Ninja API for the same failure.

    Args:
        exc: What the view raised.
        context: DRF's context (view, request).

    Returns:
        The response; ``None`` only with ``DEBUG`` on an unexpected error (Django's debug page).
    """
    error = drf_to_error(exc)
    if error is None:
        if settings.DEBUG:
            return None
        logger.error("Unexpected error in the sync API", exc_info=exc)
        error = api_error(ServerError)
    set_rollback()
    return Response(error.as_dict(), status=error.status_code, headers=error_headers(error))


# --8<-- [end:drf_errors]


def _reshape_not_allowed(response: HttpResponseBase) -> HttpResponseBase:
    if not isinstance(response, HttpResponseNotAllowed):
        return response
    allowed = {method.strip() for method in response["Allow"].split(",")}
    if "GET" in allowed:
        allowed.add("HEAD")  # answered as GET (_head_as_get)
    shaped = JsonResponse(api_error(MethodNotAllowed).as_dict(), status=405)
    shaped["Allow"] = ", ".join(sorted(allowed))
    return shaped


# --8<-- [start:head_as_get]
@contextmanager
def _head_as_get(request: HttpRequest) -> Iterator[None]:
    """Answer ``HEAD`` with the ``GET`` operation, as Django's class-based views (and DRF) do.

    Ninja finds an operation by the request's method and has no ``HEAD`` operations. The body
    stays: the server leaves it out of a ``HEAD`` answer (RFC 9110, section 9.3.2).
    """
    if request.method != "HEAD":
        yield
        return
    request.method = "GET"
    try:
        yield
    finally:
        request.method = "HEAD"


# --8<-- [end:head_as_get]


def _ninja_view(view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Ninja URL view: ``HEAD`` answered as ``GET``, a 405 in the error shape.

    Ninja's own 405 is plain text.
    """
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            with _head_as_get(request):
                response = await view(request, *args, **kwargs)
            return _reshape_not_allowed(response)

        return async_view

    @functools.wraps(view)
    def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        with _head_as_get(request):
            response = view(request, *args, **kwargs)
        return _reshape_not_allowed(response)

    return sync_view


def ninja_urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    """Return the Ninja API's URLs for ``path("api/async/", ...)``, wrapped (:func:`_ninja_view`).

    Returns:
        What ``include()`` takes: the patterns, the app name and the namespace.
    """
    patterns, app_name, namespace = api.urls
    wrapped: list[URLPattern | URLResolver] = [
        URLPattern(p.pattern, _ninja_view(p.callback), p.default_args, p.name)
        if isinstance(p, URLPattern)
        else p
        for p in patterns
    ]
    return wrapped, app_name, namespace


def api_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404``: an unknown ``/api/`` path answers in the API's error shape.

    Args:
        request: The request.
        exception: The resolver's 404.

    Returns:
        JSON under ``/api/``, Django's page elsewhere.
    """
    if request.path.startswith("/api/"):
        return JsonResponse(not_found().as_dict(), status=404)
    return page_not_found(request, exception or Http404())


__all__ = ["api", "api_not_found", "drf_exception_handler", "ninja_urls"]
