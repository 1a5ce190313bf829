"""Account writes: API tokens."""

from __future__ import annotations

from django.contrib.auth import aauthenticate, authenticate
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from fashionistar.accounts.models import User
from fashionistar.kernel.errors import ApplicationError


class InvalidCredentials(ApplicationError):
    """The username and password do not match an active user."""

    status_code = 400
    code = "invalid_credentials"


def _refuse() -> InvalidCredentials:
    return InvalidCredentials("Unable to log in with the given username and password.")


def token_obtain(*, request: HttpRequest | None, username: str, password: str) -> str:
    """Check a username and password and return the user's API token (made on first use).

    Args:
        request: The request (authentication backends may read it).
        username: The username.
        password: The password.

    Returns:
        The token key, for ``Authorization: Token <key>``.

    Raises:
        InvalidCredentials: No active user with that username and password.
    """
    user = authenticate(request, username=username, password=password)
    if not isinstance(user, User) or not user.is_active:
        raise _refuse()
    token, _ = Token.objects.get_or_create(user=user)
    return str(token.key)


async def atoken_obtain(*, request: HttpRequest | None, username: str, password: str) -> str:
    """Async twin of :func:`token_obtain` (``aauthenticate``, ``aget_or_create``).

    Args:
        request: The request.
        username: The username.
        password: The password.

    Returns:
        The token key.

    Raises:
        InvalidCredentials: No active user with that username and password.
    """
    user = await aauthenticate(request, username=username, password=password)
    if not isinstance(user, User) or not user.is_active:
        raise _refuse()
    token, _ = await Token.objects.aget_or_create(user=user)
    return str(token.key)
