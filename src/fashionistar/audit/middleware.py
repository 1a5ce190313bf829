"""Audit middleware: a row for every state-changing API request, under WSGI and ASGI."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.functional import SimpleLazyObject

from fashionistar.accounts.models import User
from fashionistar.audit.services import AuditRecord, aaudit_record, audit_record
from fashionistar.kernel.apis import client_ip
from fashionistar.kernel.errors import lost_the_database
from fashionistar.observability.middleware import HybridMiddleware

logger = logging.getLogger(__name__)

AUDITED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUDITED_PREFIX = "/api/"


def _known_user(request: HttpRequest) -> object:
    """The user an API already authenticated, or ``False`` when only the session can tell.

    DRF and the Ninja auth classes put the authenticated user on ``request.user``, replacing
    the lazy object of ``AuthenticationMiddleware``; touching that lazy object from async code
    would run a synchronous query, so it is recognised by its type and left alone.
    """
    auth = getattr(request, "auth", None)
    if isinstance(auth, User):
        return auth
    user = request.__dict__.get("user")
    return False if user is None or type(user) is SimpleLazyObject else user


def _signed_in(user: object) -> User | None:
    return user if isinstance(user, User) and user.is_authenticated else None


def _record(request: HttpRequest, response: HttpResponseBase, user: User | None) -> AuditRecord:
    match = request.resolver_match
    action = getattr(request, "audit_action", "") or (match.view_name if match else "")
    object_type, object_id = getattr(request, "audit_object", ("", ""))
    return AuditRecord(
        user=user,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        request_id=request.request_id,  # type: ignore[attr-defined]
        method=request.method or "",
        path=request.path,
        status_code=response.status_code,
        action=action,
        object_type=str(object_type),
        object_id=str(object_id),
    )


def _not_written(error: DatabaseError) -> None:
    # A database that did not answer (an overloaded pool, a restart) already made the request a
    # 503, logged once as a warning: a traceback per refused request would bury the log.
    if lost_the_database(error):
        logger.warning("Audit entry not written: the database did not answer (%s)", error)
    else:
        logger.error("Audit entry not written", exc_info=True)


def _audited(request: HttpRequest) -> bool:
    return request.method in AUDITED_METHODS and request.path.startswith(AUDITED_PREFIX)


# --8<-- [start:audit_middleware]
class AuditMiddleware(HybridMiddleware):
    """Log every state-changing ``/api/`` request.

    It goes after :class:`~fashionistar.observability.middleware.RequestIdMiddleware`, whose
    ``request.request_id`` the row keeps. The row records the user, the IP (``REMOTE_ADDR``;
    ``X-Forwarded-For`` only with ``TRUST_X_FORWARDED_FOR``), the user agent, method, path,
    status, the action and the object that the view set with
    :func:`fashionistar.audit.services.audit_mark`. It is written after the response is made,
    for failures too: a refused request is worth auditing. Under ASGI the row is written with
    the async ORM. If the write fails, the error is logged and the response still goes out (a
    database that did not answer is a warning without a traceback: the request is a 503 already).
    """

    def __call__(self, request: HttpRequest) -> Any:
        """Handle a request (sync or async, as the handler chain is).

        Args:
            request: The request.

        Returns:
            The response, or an awaitable of it under ASGI.
        """
        if self.is_async:
            return self.__acall__(request)
        response = self.get_response(request)
        assert isinstance(response, HttpResponseBase)  # sync chain
        if _audited(request):
            known = _known_user(request)
            user = _signed_in(request.user if known is False else known)
            try:
                audit_record(record=_record(request, response, user))
            except DatabaseError as error:
                _not_written(error)
        return response

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """Async path: the same, with ``request.auser()`` and ``acreate``.

        Args:
            request: The request.

        Returns:
            The response.
        """
        response = await self.get_response(request)  # type: ignore[misc]
        assert isinstance(response, HttpResponseBase)  # async chain
        if _audited(request):
            known = _known_user(request)
            user = _signed_in(await request.auser() if known is False else known)
            try:
                await aaudit_record(record=_record(request, response, user))
            except DatabaseError as error:
                _not_written(error)
        return response


# --8<-- [end:audit_middleware]
