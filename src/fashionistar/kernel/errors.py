"""The one base class of domain errors; each API flavour maps it once to the same JSON shape."""

from __future__ import annotations

from typing import Any

from django.db import InterfaceError, InternalError, OperationalError


class ApplicationError(Exception):
    """A domain rule said no; the client can act on the message.

    Subclasses live next to the service that raises them and set ``status_code`` and ``code``.

    Attributes:
        message: What went wrong, for a person.
        extra: Machine-readable details (ids, quantities).
    """

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}

    def as_dict(self) -> dict[str, Any]:
        """Return the JSON body both APIs answer with.

        Returns:
            ``{"code", "message", "extra"}``.
        """
        return {"code": self.code, "message": self.message, "extra": self.extra}


class NotFound(ApplicationError):
    """The object does not exist, or belongs to somebody else (both look the same)."""

    status_code = 404
    code = "not_found"


class DatabaseUnavailable(ApplicationError):
    """The database, or PgBouncer in front of it, did not answer (a restart, a failover).

    The request's transaction did not commit unless the connection broke during the commit
    itself: retry it (a payment with the same idempotency key, which cannot charge twice).
    """

    status_code = 503
    code = "database_unavailable"

    def __init__(self) -> None:
        super().__init__("The database is unavailable; retry in a moment.")


def lost_the_database(exc: Exception) -> bool:
    """Tell whether a database error means the connection failed, not the statement.

    Connection refused, closed or timed out are ``OperationalError`` or ``InterfaceError``. A
    connection cut in the middle of a reply (PgBouncer or PostgreSQL terminating it during a
    ``COMMIT``) makes psycopg raise its own ``InternalError``, which has no SQLSTATE; one the
    server sends (``XX000``, data corrupted) has one, and stays a 500.

    Args:
        exc: What a view or a middleware caught.

    Returns:
        ``True`` when a retry may succeed once the database answers again.
    """
    match exc:
        case OperationalError() | InterfaceError():
            return True
        case InternalError():
            return getattr(exc.__cause__, "sqlstate", "") is None
    return False
