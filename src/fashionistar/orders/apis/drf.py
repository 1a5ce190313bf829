"""Orders, sync API (DRF): list, place, show, cancel. A user only ever sees their own orders."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from fashionistar.accounts.models import User
from fashionistar.audit.services import audit_mark
from fashionistar.kernel.apis import ERRORS_NEEDS_USER, ERRORS_WITH_BODY, MAX_ID
from fashionistar.kernel.apis.drf import (
    PageInput,
    id_parameter,
    idempotency_key_parameter,
    page_of,
    paginate,
    responses,
    validated,
)
from fashionistar.kernel.apis.drf_view import ApiView
from fashionistar.orders.selectors import order_get, order_list
from fashionistar.orders.services import (
    MAX_LINES,
    MAX_QUANTITY,
    OrderItem,
    order_cancel,
    order_place_once,
)


def _user(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):  # IsAuthenticated let the request in
        raise TypeError("An authenticated view got no user")
    return user


class OrderItemSerializer(serializers.Serializer[Any]):
    """One item asked for: a variant, and 1 to 100 units of it (``order_place``'s rule)."""

    variant_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


# --8<-- [start:drf_order_serializer]
class OrderLineSerializer(serializers.Serializer[Any]):
    """One line of an order, at the price it had when placed."""

    variant_id = serializers.IntegerField()
    sku = serializers.CharField(source="variant.sku")
    product_name = serializers.CharField(source="variant.product.name")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=10, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)


class OrderPaymentSerializer(serializers.Serializer[Any]):
    """One payment of an order (newest first), whatever its status: declined ones too."""

    payment_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()


class OrderSerializer(serializers.Serializer[Any]):
    """An order as both APIs show it."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    currency = serializers.CharField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    created_at = serializers.DateTimeField()
    lines = OrderLineSerializer(many=True, source="lines.all")
    payments = OrderPaymentSerializer(many=True, source="payments.all")


# --8<-- [end:drf_order_serializer]


class OrderListApi(ApiView):
    """``GET orders``: the user's orders, newest first, one page."""

    permission_classes = (IsAuthenticated,)

    class FilterSerializer(PageInput):
        """The page."""

    @extend_schema(
        operation_id="orders_list",
        parameters=[FilterSerializer],
        responses=responses(
            {200: page_of("OrderPage", OrderSerializer())}, *ERRORS_NEEDS_USER, 404
        ),
    )
    def get(self, request: Request) -> Response:
        """List the user's orders.

        Args:
            request: The request.

        Returns:
            ``{"count", "page", "page_size", "results"}``.
        """
        filters = validated(OrderListApi.FilterSerializer(data=request.query_params))
        body = paginate(
            order_list(user=_user(request)),
            page=filters["page"],
            page_size=filters["page_size"],
            serialize=lambda orders: OrderSerializer(orders, many=True).data,
        )
        return Response(body)


# --8<-- [start:drf_order_place]
class OrderPlaceApi(ApiView):
    """``POST orders``: place an order; prices come from the catalog, never from the client."""

    permission_classes = (IsAuthenticated,)

    @extend_schema_serializer(component_name="OrderPlaceInput")
    class InputSerializer(serializers.Serializer[Any]):
        """The items asked for: 1 to 50 (``order_place``'s rule)."""

        items = serializers.ListField(
            child=OrderItemSerializer(), min_length=1, max_length=MAX_LINES
        )

    @extend_schema(
        request=InputSerializer,
        parameters=[idempotency_key_parameter(required=False)],
        responses=responses(
            {201: OrderSerializer}, *ERRORS_NEEDS_USER, *ERRORS_WITH_BODY, 409, 422
        ),
    )
    def post(self, request: Request) -> Response:
        """Place the order (once per ``Idempotency-Key``, when the client sends one).

        Args:
            request: The request: ``{"items": [{"variant_id", "quantity"}]}``.

        Returns:
            201 with the order and its lines; a replay has ``Idempotent-Replayed: true``.
        """
        data = validated(OrderPlaceApi.InputSerializer(data=request.data))
        user = _user(request)
        placement = order_place_once(
            user=user,
            items=[OrderItem(**item) for item in data["items"]],
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        order = placement.order
        audit_mark(request, action="order.place", object_type="order", object_id=order.pk)
        response = Response(OrderSerializer(order).data, status=201)
        if placement.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


# --8<-- [end:drf_order_place]


class OrdersApi(OrderListApi, OrderPlaceApi):
    """``orders``: GET lists (:class:`OrderListApi`), POST places (:class:`OrderPlaceApi`)."""


# --8<-- [start:drf_order_detail]
class OrderDetailApi(ApiView):
    """``GET orders/{id}``: one of the user's orders; anybody else's is a 404."""

    permission_classes = (IsAuthenticated,)

    OutputSerializer = OrderSerializer

    @extend_schema(
        parameters=[id_parameter("order_id")],
        responses=responses({200: OrderSerializer}, *ERRORS_NEEDS_USER, 404),
    )
    def get(self, request: Request, order_id: int) -> Response:
        """Show the order.

        The selector filters by user, so another user's order is "not found", the same answer
        as an id that does not exist: the API never confirms that an id is taken.

        Args:
            request: The request.
            order_id: The order.

        Returns:
            The order with its lines.
        """
        order = order_get(order_id=order_id, user=_user(request))
        return Response(self.OutputSerializer(order).data)


# --8<-- [end:drf_order_detail]


class OrderCancelApi(ApiView):
    """``POST orders/{id}/cancel``: cancel a placed order; its units go back to stock."""

    permission_classes = (IsAuthenticated,)

    OutputSerializer = OrderSerializer

    @extend_schema(
        request=None,
        parameters=[id_parameter("order_id")],
        responses=responses({200: OrderSerializer}, *ERRORS_NEEDS_USER, 404, 409),
    )
    def post(self, request: Request, order_id: int) -> Response:
        """Cancel the order.

        Args:
            request: The request.
            order_id: The order.

        Returns:
            The cancelled order.
        """
        audit_mark(request, action="order.cancel", object_type="order", object_id=order_id)
        user = _user(request)
        order_cancel(order_id=order_id, user=user)
        return Response(self.OutputSerializer(order_get(order_id=order_id, user=user)).data)
