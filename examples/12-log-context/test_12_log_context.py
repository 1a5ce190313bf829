"""Exercise 12: a run id bound once, in every line of the run (the called code's too), then gone."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from tests.factories import make_product

from fashionistar.catalog.models import Product

PARTICIPANT_FILE = "sale.py"
RUN_ID = "sale-20261128-0300"
pytestmark = pytest.mark.django_db


@pytest.fixture
def run_lines(participant, log_lines) -> list[dict]:
    """The JSON lines of the sale module and of price_cut, while one run works."""
    make_product(price="80.00", category="coats")
    make_product(price="120.00", category="coats")
    assert participant.sale_run(run_id=RUN_ID, category="coats", percent=25) == 2
    ours = {participant.__name__, "workshop.pricing"}
    return [line for line in log_lines() if line["log.logger"] in ours]


def test_every_line_of_the_run_carries_its_id(run_lines) -> None:
    missing = [line["log.logger"] for line in run_lines if line.get("labels.run_id") != RUN_ID]
    assert not missing, (
        f"{len(missing)} of {len(run_lines)} lines of the run have no labels.run_id: "
        f"from {', '.join(sorted(set(missing)))}"
    )


def test_the_run_id_is_a_field_not_text(run_lines) -> None:
    assert not [line["message"] for line in run_lines if RUN_ID in line["message"]], (
        "the run id is written into messages: a field is enough"
    )


def test_the_id_is_gone_once_the_run_ends(run_lines, log_lines) -> None:
    logging.getLogger("workshop.later").info("another job")
    (later,) = [line for line in log_lines() if line["log.logger"] == "workshop.later"]
    assert "labels.run_id" not in later, "a line logged after the run still carries its id"


def test_the_prices_are_cut(run_lines) -> None:
    prices = Product.objects.filter(category__slug="coats").order_by("pk")
    assert list(prices.values_list("price", flat=True)) == [Decimal("60.00"), Decimal("90.00")]
