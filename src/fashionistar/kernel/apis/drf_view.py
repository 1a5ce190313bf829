"""The base view of the sync API (DRF), with a parser and a token auth hardened against abuse.

Every view of every app's ``apis/drf.py`` derives from :class:`ApiView`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework import authentication, exceptions, parsers
from rest_framework.views import APIView

from fashionistar.kernel.apis import is_token_key


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested deeper than the decoder can go is a parse error too.

    DRF catches only ``ValueError``: ``[[[[...]]]]`` a few thousand deep raised
    ``RecursionError`` and answered 500.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        """Parse the body as JSON.

        Args:
            stream: The body.
            media_type: Its media type.
            parser_context: DRF's context.

        Returns:
            The parsed JSON.

        Raises:
            ParseError: Not JSON, or nested too deep (400 ``malformed_request``).
        """
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as error:
            raise exceptions.ParseError("JSON parse error - nested too deep") from error


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication; a key that cannot be a token fails without a query.

    A key with a NUL character made PostgreSQL refuse the lookup: 500 instead of 401.
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        """Look the key up, if it can be a key at all.

        Args:
            key: The key from the ``Authorization`` header.

        Returns:
            The user and the token.

        Raises:
            AuthenticationFailed: No such token, or its user is inactive (401).
        """
        if not is_token_key(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)


class ApiView(APIView):
    """The base of every view of the sync API: the parser and authentication above.

    A view that needs no user sets ``authentication_classes = ()``. The order matters: the
    token first, so that a request without credentials gets a 401 with ``WWW-Authenticate``.
    """

    parser_classes: Sequence[type[parsers.BaseParser]] = (JSONParser,)
    authentication_classes: Sequence[type[authentication.BaseAuthentication]] = (
        TokenAuthentication,
        authentication.SessionAuthentication,
    )


__all__ = ["ApiView", "JSONParser", "TokenAuthentication"]
