"""Accounts, sync API (DRF): obtain a token."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from fashionistar.accounts.services import token_obtain
from fashionistar.audit.services import audit_mark
from fashionistar.kernel.apis import ERRORS_WITH_BODY
from fashionistar.kernel.apis.drf import StringField, responses, validated
from fashionistar.kernel.apis.drf_view import ApiView


class TokenObtainApi(ApiView):
    """``POST auth/token``: username and password in, API token out."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema_serializer(component_name="TokenInput")
    class InputSerializer(serializers.Serializer[Any]):
        """Credentials."""

        username = StringField(min_length=1, max_length=150)
        password = StringField(min_length=1, max_length=128, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer[Any]):
        """The token."""

        token = serializers.CharField()

    @extend_schema(
        request=InputSerializer,
        responses=responses(
            {200: inline_serializer("TokenOut", {"token": serializers.CharField()})},
            *ERRORS_WITH_BODY,
        ),
    )
    def post(self, request: Request) -> Response:
        """Check the credentials and return the token.

        Args:
            request: The request.

        Returns:
            ``{"token": ...}``.
        """
        data = validated(self.InputSerializer(data=request.data))
        audit_mark(request, action="auth.token")
        key = token_obtain(
            request=request._request, username=data["username"], password=data["password"]
        )
        return Response(self.OutputSerializer({"token": key}).data)
