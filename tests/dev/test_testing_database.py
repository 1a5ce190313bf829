"""A transactional test leaves no row behind but what migrate wrote itself."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import TransactionTestCase

from fashionistar.orders.services import OrderItem, order_place
from fashionistar_dev.testing.database import KEPT_TABLES
from tests.factories import make_product, make_user, variant_of


def tables_with_rows() -> set[str]:
    names = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        found = set()
        for name in names:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(name)})")
            if cursor.fetchone()[0]:
                found.add(name)
        return found


def kept_rows() -> tuple[list[int], list[int]]:
    content_types = list(ContentType.objects.order_by("pk").values_list("pk", flat=True))
    permissions = list(Permission.objects.order_by("pk").values_list("pk", flat=True))
    assert content_types
    assert permissions
    return content_types, permissions


@pytest.mark.django_db(transaction=True)
def test_a_transactional_test_ends_with_no_row_but_the_content_types_and_permissions() -> None:
    user = make_user()
    variant = variant_of(make_product(stock=5))
    order_place(user=user, items=[OrderItem(variant_id=variant.pk, quantity=1)])
    kept = kept_rows()
    assert {"orders_order", "orders_orderline", "inventory_stock"} <= tables_with_rows()

    TransactionTestCase()._fixture_teardown()  # what pytest-django runs after such a test

    assert tables_with_rows() == KEPT_TABLES
    assert kept_rows() == kept  # the same rows, not written again (Django's flush would)
