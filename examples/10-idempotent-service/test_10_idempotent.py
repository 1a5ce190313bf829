"""Exercise 10: ``category_ensure`` creates once, also when two calls overlap."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from fashionistar.catalog.models import Category

PARTICIPANT_FILE = "services.py"


@pytest.mark.django_db
def test_the_second_call_returns_the_first_ones_category(participant) -> None:
    first, created = participant.category_ensure(slug="dresses", name="Dresses")
    again, created_again = participant.category_ensure(slug="dresses", name="Other name")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert again.name == "Dresses"
    assert Category.objects.filter(slug="dresses").count() == 1


@pytest.mark.django_db
def test_inside_the_callers_transaction_a_repeat_leaves_it_usable(participant) -> None:
    with transaction.atomic():
        participant.category_ensure(slug="shoes", name="Shoes")
        participant.category_ensure(slug="shoes", name="Shoes")
        assert Category.objects.filter(slug="shoes").count() == 1  # the transaction still works


def waiting_on_a_lock() -> int:
    """Sessions of this database that wait for a lock (fresh statistics each call)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_call_that_overlaps_an_uncommitted_insert_gets_the_same_category(participant) -> None:
    """The race, made certain: B runs while A's insert is not committed yet."""

    def call_b() -> tuple[int, bool]:
        try:
            category, created = participant.category_ensure(slug="bags", name="Bags")
            return category.pk, created
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool, transaction.atomic():
        a, a_created = participant.category_ensure(slug="bags", name="Bags")
        b_future = pool.submit(call_b)
        deadline = time.monotonic() + 10
        while not waiting_on_a_lock() and not b_future.done():
            assert time.monotonic() < deadline, "B never reached the unique index"
            time.sleep(0.02)
    # A has committed: B's insert fails on the unique constraint; B must answer, not raise.
    assert b_future.result(timeout=10) == (a.pk, False)
    assert a_created
    assert Category.objects.filter(slug="bags").count() == 1
