"""Orders, async API (Ninja): list, place, show, cancel. A user only ever sees their own orders.

Reads use the async ORM; writes that need a transaction and row locks (``order_place``,
``order_cancel``) are sync services called through ``sync_to_async``.
"""

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from fashionistar.audit.services import audit_mark
from fashionistar.kernel.apis import ERRORS_NEEDS_USER, ERRORS_WITH_BODY, MAX_ID
from fashionistar.kernel.apis.ninja import (
    Money,
    Page,
    PageQuery,
    PathId,
    Timestamp,
    apaginate,
    async_throttle,
    auth,
    auth_user,
    idempotency_key_header,
    responses,
)
from fashionistar.orders.async_services import CheckoutSummary, acheckout_summary
from fashionistar.orders.models import Order, OrderLine
from fashionistar.orders.selectors import aorder_get, order_list
from fashionistar.orders.services import (
    MAX_LINES,
    MAX_QUANTITY,
    OrderItem,
    order_cancel,
    order_place_once,
)

router = Router(tags=["orders"], auth=auth)


class OrderItemIn(Schema):
    """One item asked for: a variant, and 1 to 100 units of it (``order_place``'s rule)."""

    variant_id: int = Field(ge=1, le=MAX_ID)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)


class OrderPlaceIn(Schema):
    """The body of ``POST orders``: 1 to 50 items (``order_place``'s rule)."""

    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_LINES)


class OrderLineOut(Schema):
    """One line of an order, at the price it had when placed."""

    variant_id: int
    sku: str
    product_name: str
    quantity: int
    unit_price: Money
    line_total: Money


class OrderPaymentOut(Schema):
    """One payment of an order (newest first), whatever its status: declined ones too."""

    payment_id: int
    status: str
    amount: Money
    currency: str
    created_at: Timestamp


class OrderOut(Schema):
    """An order as both APIs show it."""

    id: int
    status: str
    currency: str
    total: Money
    created_at: Timestamp
    lines: list[OrderLineOut]
    payments: list[OrderPaymentOut]


class CheckoutQuery(Schema):
    """``country``: where to ship, a 2-letter code."""

    country: str = Field(pattern=r"^[A-Za-z]{2}$")


class ShippingOut(Schema):
    """A shipping quote."""

    amount: Money
    currency: str
    days: int


class CheckoutOut(Schema):
    """What a customer sees before paying; a partner that did not answer shows as null."""

    order_id: int
    total: Money
    currency: str
    shipping: ShippingOut | None
    fraud_verdict: str
    gateway_charges: int | None
    recent_views: int | None


def _line_out(line: OrderLine) -> OrderLineOut:
    return OrderLineOut(
        variant_id=line.variant_id,
        sku=line.variant.sku,
        product_name=line.variant.product.name,
        quantity=line.quantity,
        unit_price=line.unit_price,
        line_total=line.line_total,
    )


def order_out(order: Order) -> OrderOut:
    """Build the schema of an order whose lines and payments are prefetched (an order selector).

    Args:
        order: The order.

    Returns:
        The schema.
    """
    return OrderOut(
        id=order.pk,
        status=order.status,
        currency=order.currency,
        total=order.total,
        created_at=order.created_at,
        lines=[_line_out(line) for line in order.lines.all()],
        payments=[
            OrderPaymentOut(
                payment_id=payment.pk,
                status=payment.status,
                amount=payment.amount,
                currency=payment.currency,
                created_at=payment.created_at,
            )
            for payment in order.payments.all()
        ],
    )


@router.get(
    "/orders",
    response=responses({200: Page[OrderOut]}, *ERRORS_NEEDS_USER, 404),
    url_name="order-list",
)
@async_throttle
async def order_list_op(request: HttpRequest, query: Query[PageQuery]) -> Page[OrderOut]:
    """List the user's orders, newest first.

    Args:
        request: The request.
        query: The page.

    Returns:
        ``{"count", "page", "page_size", "results"}``.
    """
    orders = order_list(user=auth_user(request))
    return await apaginate(orders, page=query.page, page_size=query.page_size, serialize=order_out)


# --8<-- [start:ninja_order_place]
@router.post(
    "/orders",
    response=responses({201: OrderOut}, *ERRORS_NEEDS_USER, *ERRORS_WITH_BODY, 409, 422),
    url_name="order-place",
    openapi_extra={"parameters": [idempotency_key_header(required=False)]},
)
@async_throttle
async def order_place_op(
    request: HttpRequest, payload: OrderPlaceIn, response: HttpResponse
) -> Status[OrderOut]:
    """Place an order (once per ``Idempotency-Key``, when the client sends one).

    Prices come from the catalog, never from the client. ``order_place_once`` locks stock rows
    inside a transaction, which the async ORM cannot open: it runs in a worker thread through
    ``sync_to_async``. It returns the order as the detail endpoint shows it.

    Args:
        request: The request.
        payload: ``{"items": [{"variant_id", "quantity"}]}``.
        response: Ninja's response, for the ``Idempotent-Replayed`` header.

    Returns:
        201 and the order with its lines.
    """
    user = auth_user(request)
    items = [OrderItem(variant_id=i.variant_id, quantity=i.quantity) for i in payload.items]
    placement = await sync_to_async(order_place_once)(
        user=user, items=items, idempotency_key=request.headers.get("Idempotency-Key")
    )
    order_id = placement.order.pk
    audit_mark(request, action="order.place", object_type="order", object_id=order_id)
    if placement.replayed:
        response["Idempotent-Replayed"] = "true"
    return Status(201, order_out(placement.order))


# --8<-- [end:ninja_order_place]


# --8<-- [start:ninja_order_detail]
@router.get(
    "/orders/{int:order_id}",
    response=responses({200: OrderOut}, *ERRORS_NEEDS_USER, 404),
    url_name="order-detail",
)
@async_throttle
async def order_detail_op(request: HttpRequest, order_id: PathId) -> OrderOut:
    """Show one of the user's orders; anybody else's is a 404.

    Args:
        request: The request.
        order_id: The order.

    Returns:
        The order with its lines.
    """
    return order_out(await aorder_get(order_id=order_id, user=auth_user(request)))


# --8<-- [end:ninja_order_detail]


@router.post(
    "/orders/{int:order_id}/cancel",
    response=responses({200: OrderOut}, *ERRORS_NEEDS_USER, 404, 409),
    url_name="order-cancel",
)
@async_throttle
async def order_cancel_op(request: HttpRequest, order_id: PathId) -> OrderOut:
    """Cancel a placed order; its units go back to stock.

    Args:
        request: The request.
        order_id: The order.

    Returns:
        The cancelled order.
    """
    audit_mark(request, action="order.cancel", object_type="order", object_id=order_id)
    user = auth_user(request)
    await sync_to_async(order_cancel)(order_id=order_id, user=user)
    return order_out(await aorder_get(order_id=order_id, user=user))


@router.get(
    "/orders/{int:order_id}/checkout",
    response=responses({200: CheckoutOut}, *ERRORS_NEEDS_USER, 404),
    url_name="order-checkout",
)
@async_throttle
async def order_checkout_op(
    request: HttpRequest, order_id: PathId, query: Query[CheckoutQuery]
) -> CheckoutSummary:
    """Summarise an order before payment: shipping, fraud check and gateway, asked at once.

    Async only: its point is waiting on several services concurrently, which a sync view
    cannot do. See ``acheckout_summary``.

    Args:
        request: The request.
        order_id: The order.
        query: ``country``.

    Returns:
        The summary.
    """
    return await acheckout_summary(
        user=auth_user(request), order_id=order_id, country=query.country.upper()
    )
