"""Payments, sync API (DRF): pay an order, safely retried with an ``Idempotency-Key``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from fashionistar.accounts.models import User
from fashionistar.audit.services import audit_mark
from fashionistar.kernel.apis import ERRORS_NEEDS_USER, ERRORS_WITH_BODY
from fashionistar.kernel.apis.drf import id_parameter, idempotency_key_parameter, responses
from fashionistar.kernel.apis.drf_view import ApiView
from fashionistar.payments.services import MAX_CARD_TOKEN_LENGTH, InvalidPayment, payment_charge


class PaymentSerializer(serializers.Serializer[Any]):
    """A charge that went through (``201``); every other answer has the error shape."""

    payment_id = serializers.IntegerField()
    order_id = serializers.IntegerField()
    status = serializers.CharField()
    amount = serializers.CharField()
    currency = serializers.CharField()
    gateway_charge_id = serializers.CharField()


# --8<-- [start:drf_order_pay]
class OrderPayApi(ApiView):
    """``POST orders/{id}/pay``: the answer is ``payment_charge``'s, status and body verbatim."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(
        # The body goes to payment_charge as it came (its fingerprint covers every field), which
        # checks the card token: this serializer only states the rule in the schema.
        request=inline_serializer(
            "PayIn",
            {"card_token": serializers.CharField(min_length=1, max_length=MAX_CARD_TOKEN_LENGTH)},
        ),
        parameters=[id_parameter("order_id"), idempotency_key_parameter(required=True)],
        # Declined (402), not the user's order (404), not payable or the key in flight (409), the
        # key reused with another request (422), the gateway did not answer (503).
        responses=responses(
            {201: PaymentSerializer},
            *ERRORS_NEEDS_USER,
            *ERRORS_WITH_BODY,
            402,
            404,
            409,
            422,
            503,
        ),
    )
    def post(self, request: Request, order_id: int) -> Response:
        """Charge the order's total to the card.

        Args:
            request: The request: ``{"card_token": ...}`` and an ``Idempotency-Key`` header.
            order_id: The order.

        Returns:
            The charge's status and body; a replay has ``Idempotent-Replayed: true``.

        Raises:
            InvalidPayment: The body is not a JSON object.
        """
        audit_mark(request, action="order.pay", object_type="order", object_id=order_id)
        if not isinstance(request.data, dict):
            raise InvalidPayment("The request body must be a JSON object.")
        user = request.user
        if not isinstance(user, User):  # IsAuthenticated let the request in
            raise TypeError("An authenticated view got no user")
        outcome = payment_charge(
            user=user,
            order_id=order_id,
            idempotency_key=request.headers.get("Idempotency-Key"),
            payload=dict(request.data),
        )
        response = Response(outcome.body, status=outcome.status_code)
        if outcome.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


# --8<-- [end:drf_order_pay]
