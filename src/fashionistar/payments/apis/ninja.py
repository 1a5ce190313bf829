"""Payments, async API (Ninja): pay an order, safely retried with an ``Idempotency-Key``."""

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from ninja import Router, Schema

from fashionistar.audit.services import audit_mark
from fashionistar.kernel.apis import (
    ERRORS_NEEDS_USER,
    ERRORS_WITH_BODY,
    MalformedRequest,
    api_error,
)
from fashionistar.kernel.apis.ninja import (
    PathId,
    async_throttle,
    auth,
    auth_user,
    idempotency_key_header,
    json_body,
    responses,
)
from fashionistar.payments.services import MAX_CARD_TOKEN_LENGTH, InvalidPayment, payment_charge

router = Router(tags=["payments"], auth=auth)


class PaymentOut(Schema):
    """A charge that went through (``201``); every other answer has the error shape."""

    payment_id: int
    order_id: int
    status: str
    amount: str
    currency: str
    gateway_charge_id: str


PAY_RESPONSES = responses(
    {201: PaymentOut}, *ERRORS_NEEDS_USER, *ERRORS_WITH_BODY, 402, 404, 409, 422, 503
)
"""Declined (402), not the user's order (404), not payable or the key in flight (409), the key
reused with another request (422), the gateway did not answer (503)."""

# The body goes to payment_charge as it came, which checks the card token: the schema states it.
_PAY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "card_token": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_CARD_TOKEN_LENGTH,
                        }
                    },
                    "required": ["card_token"],
                }
            }
        },
    },
    "parameters": [idempotency_key_header(required=True)],
}


def _json_object(request: HttpRequest) -> dict[str, Any]:
    # The body goes to payment_charge verbatim (its fingerprint covers every field), so it is
    # read as a plain dict rather than through a schema that would drop unknown fields.
    if not request.body:
        return {}
    try:
        payload = json_body(request)
    except ValueError as error:
        raise api_error(MalformedRequest) from error
    if not isinstance(payload, dict):
        raise InvalidPayment("The request body must be a JSON object.")
    return payload


# --8<-- [start:ninja_order_pay]
@router.post(
    "/orders/{int:order_id}/pay",
    response=PAY_RESPONSES,
    url_name="order-pay",
    openapi_extra=_PAY_BODY,
)
@async_throttle
async def order_pay_op(request: HttpRequest, order_id: PathId) -> JsonResponse:
    """Charge the order's total to the card (``payment_charge`` in a worker thread).

    Args:
        request: The request: ``{"card_token": ...}`` and an ``Idempotency-Key`` header.
        order_id: The order.

    Returns:
        The charge's status and body; a replay has ``Idempotent-Replayed: true``.
    """
    audit_mark(request, action="order.pay", object_type="order", object_id=order_id)
    outcome = await sync_to_async(payment_charge)(
        user=auth_user(request),
        order_id=order_id,
        idempotency_key=request.headers.get("Idempotency-Key"),
        payload=_json_object(request),
    )
    response = JsonResponse(outcome.body, status=outcome.status_code)
    if outcome.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


# --8<-- [end:ninja_order_pay]
