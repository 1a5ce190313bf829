"""Exercise 08: every refusal a clear 4xx in the error shape, and a bug still a 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import path

PARTICIPANT_FILE = "vouchers.py"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_redis", "urls")]
ERROR_KEYS = {"code", "message", "extra"}


@pytest.fixture
def urls(participant, serve_urls) -> None:
    serve_urls([path("api/vouchers/check", participant.VoucherCheckApi.as_view())])


def check(body) -> tuple[int, dict]:
    raw = body if isinstance(body, str) else json.dumps(body)
    response = Client().post("/api/vouchers/check", raw, content_type="application/json")
    return response.status_code, response.json()


def test_a_known_voucher_is_applied() -> None:
    assert check({"code": "SPRING10", "total": "80.00"}) == (
        200,
        {"code": "SPRING10", "discount": "8.00", "total_after": "72.00"},
    )


def test_an_unknown_code_is_a_404_in_the_error_shape() -> None:
    status, body = check({"code": "NOPE", "total": "80.00"})
    assert (status, set(body)) == (404, ERROR_KEYS), (
        f"an unknown code answered {status} with the keys {sorted(body)}; "
        "expected 404 with code, message, extra"
    )
    assert body["code"] == "voucher_unknown"


def test_a_total_below_the_minimum_is_a_422_that_says_the_minimum() -> None:
    status, body = check({"code": "SPRING10", "total": "20.00"})
    assert (status, set(body)) == (422, ERROR_KEYS), f"answered {status} with {sorted(body)}"
    assert body["code"] == "voucher_minimum_not_reached"
    assert body["extra"] == {"minimum": "50.00"}


@pytest.mark.parametrize(
    ("body", "field"),
    [({"code": "SPRING10", "total": "lots"}, "total"), ({"total": "80.00"}, "code")],
    ids=["not-a-number", "missing-code"],
)
def test_a_wrong_field_is_a_400_that_names_it(body, field) -> None:
    status, answer = check(body)
    assert (status, set(answer)) == (400, ERROR_KEYS), f"answered {status} with {sorted(answer)}"
    assert answer["code"] == "invalid_input"
    assert field in answer["extra"]["fields"]


def test_malformed_json_is_a_400_in_the_error_shape() -> None:
    status, body = check("{not json")
    assert (status, set(body)) == (400, ERROR_KEYS), f"answered {status} with {sorted(body)}"
    assert body["code"] == "malformed_request"


def test_a_bug_is_a_500_not_the_clients_fault(participant, monkeypatch) -> None:
    broken = participant.Voucher(percent=None, minimum=participant.CENT)  # a bug in the data
    monkeypatch.setitem(participant.VOUCHERS, "SPRING10", broken)
    status, body = check({"code": "SPRING10", "total": "80.00"})
    assert status == 500, f"a bug answered {status}: the client cannot fix it, so not a 4xx"
    assert body["code"] == "server_error"
