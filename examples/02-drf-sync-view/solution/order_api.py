"""Exercise 02, reference solution: a thin view over the shop's selector."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fashionistar.orders.selectors import order_get


class OrderLineSerializer(serializers.Serializer[Any]):
    """One line: what was bought, how many."""

    sku = serializers.CharField(source="variant.sku")
    product_name = serializers.CharField(source="variant.product.name")
    quantity = serializers.IntegerField()


class OrderSerializer(serializers.Serializer[Any]):
    """An order with its lines."""

    id = serializers.IntegerField()
    status = serializers.CharField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2)
    lines = OrderLineSerializer(many=True, source="lines.all")


class OrderDetailApi(APIView):
    """``GET orders/{id}``: one of the customer's orders; anybody else's is a 404."""

    permission_classes = (IsAuthenticated,)

    def get(self, request: Request, order_id: int) -> Response:
        """Show the order.

        The selector looks among the user's own orders only, with the lines, their variants
        and products prefetched, so the serializer reads what is already loaded.

        Args:
            request: The request.
            order_id: The order.

        Returns:
            The order with its lines.
        """
        order = order_get(order_id=order_id, user=request.user)
        return Response(OrderSerializer(order).data)
