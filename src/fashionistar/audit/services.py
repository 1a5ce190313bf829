"""Audit writes: one row per state-changing API request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from fashionistar.accounts.models import User
from fashionistar.audit.models import AuditEntry


@dataclass(frozen=True)
class AuditRecord:
    """What one request did, as the middleware saw it.

    Attributes:
        user: Who, when authenticated.
        ip: The client's address.
        user_agent: Its ``User-Agent`` (cut to 512 characters).
        request_id: The request id (also sent back in ``X-Request-ID``).
        method: The HTTP method.
        path: The path (cut to 512 characters).
        status_code: The answer's status.
        action: What was done (``order.place``), else the URL's view name.
        object_type: The kind of object changed (``order``), if any.
        object_id: Its id, if any.
    """

    user: User | None
    ip: str | None
    user_agent: str
    request_id: str
    method: str
    path: str
    status_code: int
    action: str
    object_type: str = ""
    object_id: str = ""


def _fields(record: AuditRecord) -> dict[str, Any]:
    return {
        "user": record.user,
        "ip": record.ip,
        "user_agent": record.user_agent[:512],
        "request_id": record.request_id[:64],
        "method": record.method[:8],
        "path": record.path[:512],
        "status_code": record.status_code,
        "action": record.action[:100],
        "object_type": record.object_type[:100],
        "object_id": record.object_id[:64],
    }


def audit_record(*, record: AuditRecord) -> AuditEntry:
    """Write one audit row.

    Args:
        record: What the request did.

    Returns:
        The saved entry.
    """
    return AuditEntry.objects.create(**_fields(record))


async def aaudit_record(*, record: AuditRecord) -> AuditEntry:
    """Async twin of :func:`audit_record` (``acreate`` on the async ORM).

    Args:
        record: What the request did.

    Returns:
        The saved entry.
    """
    return await AuditEntry.objects.acreate(**_fields(record))


def audit_mark(
    request: object, *, action: str, object_type: str = "", object_id: object = ""
) -> None:
    """Tell the audit middleware what the view did; call it from a view or operation.

    Works with Django's ``HttpRequest`` and DRF's ``Request`` (which wraps one).

    Args:
        request: The request.
        action: What was done, dotted (``order.place``).
        object_type: The kind of object (``order``).
        object_id: Its id.
    """
    target = getattr(request, "_request", request)
    if isinstance(target, HttpRequest):
        target.audit_action = action  # type: ignore[attr-defined]
        if object_type:
            target.audit_object = (object_type, str(object_id))  # type: ignore[attr-defined]
