"""The one base class of domain errors; each API flavour maps it once to the same JSON shape."""

from __future__ import annotations

from typing import Any


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
