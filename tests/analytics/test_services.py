"""Analytics services: one fact per order, however often it is recorded."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fashionistar.analytics.models import OrderFact
from fashionistar.analytics.services import order_fact_record
from fashionistar.orders.services import OrderItem, order_place
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db


def test_an_orders_fact_is_recorded_once() -> None:
    dress = variant_of(make_product(price="89.00", stock=5))
    order = order_place(user=make_user(), items=[OrderItem(variant_id=dress.pk, quantity=2)])

    first = order_fact_record(order_id=order.pk)
    again = order_fact_record(order_id=order.pk)

    assert again.pk == first.pk
    assert OrderFact.objects.count() == 1
    assert (first.units, first.total, first.currency) == (2, Decimal("178.00"), order.currency)
    assert first.placed_at == order.created_at
