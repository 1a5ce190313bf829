"""Property tests (Hypothesis) for money and stock, through the real services and database.

Each example runs in a transaction that is rolled back at its end, so examples do not see each
other's rows. ``MAX_EXAMPLES`` examples per property, derandomized: the same examples every run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from fashionistar.catalog.models import CURRENCIES
from fashionistar.inventory.models import Reservation, Stock
from fashionistar.inventory.services import OutOfStock, stock_release, stock_reserve
from fashionistar.kernel.errors import ApplicationError
from fashionistar.orders.models import Order, OrderLine
from fashionistar.orders.services import InvalidOrder, OrderItem, order_cancel, order_place
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 50
CENT = Decimal("0.01")

properties = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None)

prices = st.decimals(min_value=CENT, max_value=Decimal("9999.99"), places=2)
quantities = st.integers(min_value=1, max_value=100)
stocks = st.integers(min_value=0, max_value=30)


@contextmanager
def rolled_back() -> Iterator[None]:
    """Run one example in a transaction that is undone at its end."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def units_on_hand(variant_ids: list[int]) -> list[int]:
    return [Stock.objects.get(variant_id=v).quantity for v in variant_ids]


def units_held(variant_ids: list[int]) -> list[int]:
    held = Counter()
    for reservation in Reservation.objects.filter(released_at__isnull=True):
        held[reservation.variant_id] += reservation.quantity
    return [held[v] for v in variant_ids]


@properties
@given(
    lines=st.lists(st.tuples(prices, quantities), min_size=1, max_size=6),
    currency=st.sampled_from(CURRENCIES),
)
def test_an_orders_total_is_the_exact_sum_of_its_lines(lines, currency) -> None:
    with rolled_back():
        user = make_user()
        variants = [
            variant_of(make_product(price=str(price), currency=currency, stock=100))
            for price, _ in lines
        ]
        items = [
            OrderItem(variant_id=v.pk, quantity=q)
            for v, (_, q) in zip(variants, lines, strict=True)
        ]

        order = order_place(user=user, items=items)

        order.refresh_from_db()
        expected = sum((price * quantity for price, quantity in lines), Decimal(0))
        assert order.total == expected
        assert order.total.as_tuple().exponent == -2  # cents, as stored and shown
        assert order.currency == currency
        stored = OrderLine.objects.filter(order=order)
        assert sum(line.line_total for line in stored) == order.total
        for line in stored:
            assert line.line_total == line.unit_price * line.quantity
            assert line.line_total.as_tuple().exponent == -2


@properties
@given(
    lines=st.lists(st.tuples(prices, quantities), min_size=1, max_size=4),
    split=st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=4),
)
def test_the_same_variant_asked_in_several_lines_is_priced_once_per_unit(lines, split) -> None:
    with rolled_back():
        price, _ = lines[0]
        variant = variant_of(make_product(price=str(price), stock=1000))
        items = [OrderItem(variant_id=variant.pk, quantity=q) for q in split]

        order = order_place(user=make_user(), items=items)

        (line,) = order.lines.all()
        assert line.quantity == sum(split)
        assert order.total == price * sum(split)


@properties
@given(currencies=st.lists(st.sampled_from(CURRENCIES), min_size=2, max_size=4, unique=True))
def test_an_order_in_two_currencies_is_refused_and_writes_nothing(currencies) -> None:
    with rolled_back():
        variants = [variant_of(make_product(currency=c, stock=5)) for c in currencies]
        items = [OrderItem(variant_id=v.pk, quantity=1) for v in variants]

        with pytest.raises(InvalidOrder, match="one currency"):
            order_place(user=make_user(), items=items)

        assert not Order.objects.exists()
        assert units_on_hand([v.pk for v in variants]) == [5] * len(variants)


# One step: ("place", {variant index: quantity}) or ("cancel", index of an order placed so far).
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("place"),
            st.dictionaries(st.integers(0, 2), st.integers(1, 12), min_size=1, max_size=3),
        ),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=20)),
    ),
    min_size=1,
    max_size=12,
)


@properties
@given(initial=st.lists(stocks, min_size=3, max_size=3), steps=steps)
def test_stock_is_never_negative_and_every_unit_is_on_hand_or_held(initial, steps) -> None:
    """A model of the shelf predicts each outcome; units are conserved after every step."""
    with rolled_back():
        user = make_user()
        variant_ids = [variant_of(make_product(stock=units)).pk for units in initial]
        model = list(initial)
        placed: list[tuple[int, dict[int, int], bool]] = []  # order id, asked, cancelled

        for kind, argument in steps:
            if kind == "place":
                asked = argument
                items = [OrderItem(variant_id=variant_ids[i], quantity=q) for i, q in asked.items()]
                fits = all(q <= model[i] for i, q in asked.items())
                try:
                    order = order_place(user=user, items=items)
                except OutOfStock:
                    assert not fits
                else:
                    assert fits
                    for i, q in asked.items():
                        model[i] -= q
                    placed.append((order.pk, asked, False))
            elif placed:
                index = argument % len(placed)
                order_id, asked, cancelled = placed[index]
                try:
                    order_cancel(order_id=order_id, user=user)
                except ApplicationError:
                    assert cancelled  # a second cancel is refused and gives nothing back
                else:
                    assert not cancelled
                    for i, q in asked.items():
                        model[i] += q
                    placed[index] = (order_id, asked, True)

            on_hand = units_on_hand(variant_ids)
            assert on_hand == model
            assert all(units >= 0 for units in on_hand)
            held = units_held(variant_ids)
            assert [a + b for a, b in zip(on_hand, held, strict=True)] == initial


@properties
@given(initial=st.lists(stocks, min_size=1, max_size=3), data=st.data())
def test_reserve_then_release_is_a_round_trip(initial, data) -> None:
    with rolled_back():
        user = make_user()
        variant_ids = [variant_of(make_product(stock=units)).pk for units in initial]
        asked = {
            v: data.draw(st.integers(min_value=1, max_value=40), label=f"units of {v}")
            for v in variant_ids
        }
        order = Order.objects.create(user=user, currency="EUR", total=Decimal("1.00"))
        fits = all(asked[v] <= units for v, units in zip(variant_ids, initial, strict=True))

        if not fits:
            with pytest.raises(OutOfStock) as refused, transaction.atomic():
                stock_reserve(order_id=order.pk, quantities=asked)
            assert refused.value.extra["available"]
            assert units_on_hand(variant_ids) == initial  # all or nothing
            return
        stock_reserve(order_id=order.pk, quantities=asked)
        assert units_on_hand(variant_ids) == [
            units - asked[v] for v, units in zip(variant_ids, initial, strict=True)
        ]

        released = stock_release(order_id=order.pk)
        again = stock_release(order_id=order.pk)

        assert released == sum(asked.values())
        assert again == 0
        assert units_on_hand(variant_ids) == initial
