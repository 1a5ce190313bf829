"""Payments, async API (Ninja): pay an order, safely retried with an ``Idempotency-Key``."""

import json
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from ninja import Router

from fashionistar.apis import MalformedRequest, api_error
from fashionistar.apis.ninja import async_throttle, auth, auth_user
from fashionistar.audit.services import audit_mark
from fashionistar.payments.services import InvalidPayment, payment_charge

router = Router(tags=["payments"], auth=auth)

_PAY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"card_token": {"type": "string"}},
                    "required": ["card_token"],
                }
            }
        },
    },
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}}
    ],
}


def _json_object(request: HttpRequest) -> dict[str, Any]:
    # The body goes to payment_charge verbatim (its fingerprint covers every field), so it is
    # read as a plain dict rather than through a schema that would drop unknown fields.
    if not request.body:
        return {}
    try:
        payload = json.loads(request.body)
    except ValueError as error:
        raise api_error(MalformedRequest) from error
    if not isinstance(payload, dict):
        raise InvalidPayment("The request body must be a JSON object.")
    return payload


@router.post("/orders/{int:order_id}/pay", url_name="order-pay", openapi_extra=_PAY_BODY)
@async_throttle
async def order_pay_op(request: HttpRequest, order_id: int) -> JsonResponse:
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
