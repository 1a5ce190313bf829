"""The admin shows the shop's data to staff and changes none of it: writes go through services."""

from __future__ import annotations

import pytest
from django.test import Client

from fashionistar.orders.models import Order
from fashionistar.orders.services import OrderItem, order_place
from fashionistar_dev.demo.load import demo_load
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db

MODELS = ["catalog/category", "catalog/product", "inventory/stock", "inventory/reservation",
          "orders/order", "payments/payment", "accounts/user"]  # fmt: skip


@pytest.fixture
def staff(client: Client, django_user_model) -> Client:
    client.force_login(django_user_model.objects.create_superuser("boss", "b@x.example", "pw"))
    return client


@pytest.mark.parametrize("model", MODELS)
def test_staff_see_every_list(staff: Client, model: str) -> None:
    demo_load()
    assert staff.get(f"/admin/{model}/").status_code == 200


@pytest.mark.parametrize("model", [m for m in MODELS if m != "accounts/user"])
def test_the_domain_models_cannot_be_added_in_the_admin(staff: Client, model: str) -> None:
    assert staff.get(f"/admin/{model}/add/").status_code == 403


def test_an_order_page_shows_its_lines_and_saves_nothing(staff: Client) -> None:
    order = order_place(
        user=make_user(), items=[OrderItem(variant_id=variant_of(make_product()).pk, quantity=1)]
    )
    page = staff.get(f"/admin/orders/order/{order.pk}/change/")
    assert page.status_code == 200
    line = order.lines.get()
    assert line.variant.sku in page.content.decode()
    staff.post(f"/admin/orders/order/{order.pk}/change/", {"status": "cancelled"})
    assert Order.objects.get(pk=order.pk).status == order.status
