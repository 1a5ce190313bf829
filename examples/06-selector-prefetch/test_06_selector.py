"""Exercise 06: ``order_history`` shows every line in two queries, whatever the number of orders."""

from __future__ import annotations

import pytest
from tests.factories import make_product, make_user, variant_of

from fashionistar.orders.services import OrderItem, order_place

PARTICIPANT_FILE = "selectors.py"
pytestmark = pytest.mark.django_db


def place_orders(user, count: int) -> list[int]:
    dress = make_product(name="Dress", sizes=("S", "M"), stock=50)
    return [
        order_place(
            user=user,
            items=[
                OrderItem(variant_id=variant_of(dress, 0).pk, quantity=1),
                OrderItem(variant_id=variant_of(dress, 1).pk, quantity=2),
            ],
        ).pk
        for _ in range(count)
    ]


def rendered(orders) -> list[tuple[int, str, str, int]]:
    """What the history page shows: order, product, size, quantity."""
    return [
        (order.pk, line.variant.product.name, line.variant.size, line.quantity)
        for order in orders
        for line in order.lines.all()
    ]


@pytest.mark.parametrize("count", [1, 5])
def test_the_page_runs_two_queries_whatever_the_number_of_orders(
    participant, django_assert_num_queries, count: int
) -> None:
    user = make_user()
    place_orders(user, count)
    with django_assert_num_queries(2):
        page = rendered(participant.order_history(user=user))
    assert len(page) == 2 * count


def test_newest_first_and_only_the_users_orders(participant) -> None:
    alice, bob = make_user(), make_user()
    first, second = place_orders(alice, 2)
    place_orders(bob, 1)
    page = rendered(participant.order_history(user=alice))
    assert [row[0] for row in page] == [second, second, first, first]
    assert {(row[2], row[3]) for row in page} == {("S", 1), ("M", 2)}
