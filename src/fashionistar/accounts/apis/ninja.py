"""Accounts, async API (Ninja): obtain a token with ``aauthenticate``."""

from django.http import HttpRequest
from ninja import Field, Router, Schema

from fashionistar.accounts.services import atoken_obtain
from fashionistar.audit.services import audit_mark
from fashionistar.kernel.apis import ERRORS_WITH_BODY
from fashionistar.kernel.apis.ninja import Text, TrimmedText, async_throttle, responses

router = Router(tags=["auth"])


class TokenIn(Schema):
    """Credentials."""

    username: TrimmedText = Field(min_length=1, max_length=150)
    password: Text = Field(min_length=1, max_length=128)


class TokenOut(Schema):
    """The API token, for ``Authorization: Token <key>``."""

    token: str


@router.post(
    "/auth/token", response=responses({200: TokenOut}, *ERRORS_WITH_BODY), url_name="token-obtain"
)
@async_throttle
async def token_obtain(request: HttpRequest, payload: TokenIn) -> TokenOut:
    """Check the credentials and return the token.

    Args:
        request: The request.
        payload: Username and password.

    Returns:
        The token.
    """
    audit_mark(request, action="auth.token")
    key = await atoken_obtain(request=request, username=payload.username, password=payload.password)
    return TokenOut(token=key)
