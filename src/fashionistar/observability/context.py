"""What a log line knows about the request or task it runs in: request id, user, attempt.

The values are structlog context variables: they follow a request across its ``await`` points
and into the threads of ``sync_to_async`` (asgiref copies the context), and a request never sees
another's. The user is read lazily from the request, when a line is written: authentication
happens inside the view (DRF, Ninja), after the middleware that binds the request has run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject, empty
from structlog.contextvars import bind_contextvars, get_contextvars, reset_contextvars

REQUEST_ID = "http.request.id"
"""ECS field of the request id (also the key it is bound under)."""

USER_ID = "user.id"
"""ECS field of the user id."""

TASK_ATTEMPT = "task.attempt"
"""Custom field (ECS has none) of a task's attempt number, from 1."""

_request: ContextVar[HttpRequest | None] = ContextVar("fashionistar_request", default=None)


def user_id_of(request: HttpRequest) -> str | None:
    """Return the id of the user the request is authenticated as, if that is known already.

    Never runs a query: a user that no one has loaded yet (Django's lazy ``request.user``) is
    left alone, which matters in async code, where loading it would block the event loop.

    Args:
        request: The request.

    Returns:
        The user's primary key as text, or ``None`` (anonymous, or not known yet).
    """
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = user._wrapped  # set once something has evaluated it
        if user is empty:
            return None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return str(user.pk)


RequestBinding = tuple[Mapping[str, Token[Any]], Token[HttpRequest | None]]
"""What :func:`bind_request` bound, for :func:`unbind_request`."""


def bind_request(request: HttpRequest, *, request_id: str) -> RequestBinding:
    """Make the request and its id the context of every log line written until it is unbound.

    Args:
        request: The request.
        request_id: Its id.

    Returns:
        What :func:`unbind_request` needs to put back exactly what was bound before (structlog's
        ``bound_contextvars`` would read the whole context first to find it).
    """
    return bind_contextvars(**{REQUEST_ID: request_id}), _request.set(request)


def unbind_request(binding: RequestBinding) -> None:
    """Undo :func:`bind_request`.

    Args:
        binding: What it returned.
    """
    bound, token = binding
    _request.reset(token)
    reset_contextvars(**bound)


@contextmanager
def request_bound(request: HttpRequest, *, request_id: str) -> Iterator[None]:
    """Bind the request (:func:`bind_request`) for a block.

    Args:
        request: The request.
        request_id: Its id.

    Yields:
        Nothing; log lines written inside carry the id (and the user once known).
    """
    binding = bind_request(request, request_id=request_id)
    try:
        yield
    finally:
        unbind_request(binding)


def current_request_id() -> str | None:
    """Return the request id bound in this context.

    Returns:
        The id, or ``None`` outside a request or task.
    """
    value = get_contextvars().get(REQUEST_ID)
    return value if isinstance(value, str) else None


def current_user_id() -> str | None:
    """Return the user id bound in this context, or that of the current request's user.

    Returns:
        The id, or ``None`` (anonymous, not known yet, or outside a request or task).
    """
    value = get_contextvars().get(USER_ID)
    if isinstance(value, str):
        return value
    return current_request_user_id()


def current_request_user_id() -> str | None:
    """Return the id of the current request's user, if that is known already.

    Returns:
        The id, or ``None`` (anonymous, not known yet, or outside a request).
    """
    request = _request.get()
    return user_id_of(request) if request is not None else None
