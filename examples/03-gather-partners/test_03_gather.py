"""Exercise 03: two partners asked at once, a failing one blanks only its own part."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync

from fashionistar_dev.partners import serve_in_thread
from fashionistar_dev.processes import free_port

PARTICIPANT_FILE = "extras.py"


@pytest.fixture
def partners():
    """The fake partners (shipping and fraud check), each answer 0.2 s after the request."""
    with serve_in_thread(latency_ms=200) as server:
        yield server


def extras(participant, *, shipping_url: str, fraud_url: str, limit_s: float = 2.5):
    call = participant.checkout_extras(
        shipping_url=shipping_url, fraud_url=fraud_url, country="DE", amount="89.00"
    )
    return async_to_sync(asyncio.wait_for)(call, limit_s)


def test_both_partners_answer(participant, partners) -> None:
    answer = extras(participant, shipping_url=partners.url, fraud_url=partners.url)
    assert (answer.shipping_days, answer.fraud_verdict) == (2, "accept")


def test_the_two_calls_overlap(participant, partners) -> None:
    extras(participant, shipping_url=partners.url, fraud_url=partners.url)
    assert partners.state.peak_in_flight == 2, (
        f"the partners saw at most {partners.state.peak_in_flight} request at once: "
        "the calls ran one after the other"
    )


def test_a_partner_that_is_down_blanks_only_its_part(participant, partners) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    answer = extras(participant, shipping_url=partners.url, fraud_url=nobody)
    assert (answer.shipping_days, answer.fraud_verdict) == (2, "unknown")
    answer = extras(participant, shipping_url=nobody, fraud_url=partners.url)
    assert (answer.shipping_days, answer.fraud_verdict) == (None, "accept")


def test_a_partner_that_never_answers_costs_about_a_second(
    participant, partners, silent_port
) -> None:
    hung = f"http://127.0.0.1:{silent_port}"
    answer = extras(participant, shipping_url=partners.url, fraud_url=hung, limit_s=2.5)
    assert (answer.shipping_days, answer.fraud_verdict) == (2, "unknown")
