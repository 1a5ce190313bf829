"""Exercise 02: one order, nested with its lines, in the sync API (Django REST Framework)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fashionistar.orders.models import Order


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


# TODO: only a signed-in customer, only their own orders (anybody else's is a 404, like an id
# that does not exist), and a number of queries that does not grow with the lines.
class OrderDetailApi(APIView):
    """``GET orders/{id}``: one of the customer's orders."""

    def get(self, request: Request, order_id: int) -> Response:
        order = Order.objects.get(pk=order_id)
        return Response(OrderSerializer(order).data)
