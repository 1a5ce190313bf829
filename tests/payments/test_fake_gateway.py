"""The fake gateway over real HTTP: charges, declines, failures, its own idempotency keys."""

from __future__ import annotations

import subprocess
import sys
import threading

import httpx
import pytest

from fashionistar_dev.partners import make_server, serve_in_thread, validate_charge
from fashionistar_dev.processes import free_port
from tests.payments.helpers import charges_made

BODY = {"amount": "12.50", "currency": "EUR", "card_token": "tok_visa", "reference": "order-1"}


def post(url: str, body: object, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return httpx.post(f"{url}/v1/charges", json=body, headers=headers, timeout=10)


def test_a_charge_succeeds_and_is_counted() -> None:
    with serve_in_thread() as server:
        response = post(server.url, BODY)
        assert response.status_code == 201
        charge = response.json()
        assert charge["id"].startswith("ch_")
        assert charge["status"] == "succeeded"
        assert (charge["amount"], charge["currency"], charge["reference"]) == (
            "12.50",
            "EUR",
            "order-1",
        )
        post(server.url, {**BODY, "reference": "order-2"})
        assert charges_made(server, "order-1") == 1
        assert charges_made(server) == 2


def test_a_declined_card_gets_402() -> None:
    with serve_in_thread() as server:
        response = post(server.url, {**BODY, "card_token": "tok_declined"})
        assert response.status_code == 402
        assert response.json()["status"] == "declined"


def test_the_same_key_charges_once_and_replays_the_first_response() -> None:
    with serve_in_thread() as server:
        first = post(server.url, BODY, key="k1")
        second = post(server.url, BODY, key="k1")
        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert second.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert charges_made(server, "order-1") == 1
        assert post(server.url, BODY, key="k2").json()["id"] != first.json()["id"]
        assert charges_made(server, "order-1") == 2


def test_the_same_key_with_another_body_gets_422() -> None:
    with serve_in_thread() as server:
        assert post(server.url, BODY, key="k").status_code == 201
        response = post(server.url, {**BODY, "amount": "99.00"}, key="k")
        assert response.status_code == 422
        assert charges_made(server) == 1


def test_the_same_key_while_the_first_runs_gets_409() -> None:
    with serve_in_thread(latency_ms=400) as server:
        responses: list[httpx.Response] = []
        threads = [
            threading.Thread(target=lambda: responses.append(post(server.url, BODY, key="k")))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(r.status_code for r in responses) == [201, 409]
        assert charges_made(server) == 1


def test_a_failure_is_503_charges_nothing_and_frees_the_key() -> None:
    with serve_in_thread(failure_rate=1.0) as server:
        response = post(server.url, BODY, key="k")
        assert response.status_code == 503
        assert charges_made(server) == 0
        server.state.failure_rate = 0.0
        assert post(server.url, BODY, key="k").status_code == 201
        assert charges_made(server) == 1


def test_the_failure_rate_is_a_share_of_requests() -> None:
    with serve_in_thread(failure_rate=0.5, seed=7) as server:
        statuses = [post(server.url, BODY).status_code for _ in range(40)]
        assert set(statuses) == {201, 503}
        assert charges_made(server) == statuses.count(201)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "JSON object"),
        ({**BODY, "amount": 12.5}, "amount"),
        ({**BODY, "amount": "abc"}, "positive"),
        ({**BODY, "amount": "-1"}, "positive"),
        ({**BODY, "amount": "1.005"}, "at most 2 decimals"),
        ({**BODY, "currency": "EURO"}, "3-letter"),
    ],
)
def test_a_bad_body_gets_400(body: object, message: str) -> None:
    with serve_in_thread() as server:
        response = post(server.url, body)
        assert response.status_code == 400
        assert message in response.json()["error"]["message"]
        assert charges_made(server) == 0


def test_unknown_paths_get_404_and_health_answers() -> None:
    with serve_in_thread() as server:
        assert httpx.get(f"{server.url}/v1/health").json() == {"status": "ok"}
        assert httpx.get(f"{server.url}/v2/nothing").status_code == 404
        assert httpx.post(f"{server.url}/v1/refunds", json={}).status_code == 404


def test_validate_charge_keeps_only_known_fields() -> None:
    assert validate_charge({**BODY, "extra": "x"}) == BODY


def test_wrong_options_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_rate"):
        make_server(failure_rate=2.0)


def test_the_command_line_runs_a_server_with_latency() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fashionistar_dev.partners",
            "--port",
            str(port),
            "--latency-ms",
            "100",
            "--failure-rate",
            "0",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert (
            process.stdout.readline().strip()
            == f"fake gateway listening on http://127.0.0.1:{port}"
        )
        response = post(f"http://127.0.0.1:{port}", BODY, key="cli")
        assert response.status_code == 201
        assert response.elapsed.total_seconds() >= 0.1
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_command_line_rejects_a_bad_failure_rate() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fashionistar_dev.partners", "--failure-rate", "3"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "failure_rate" in result.stderr


def test_the_stack_runs_a_gateway_for_the_application(settings) -> None:
    if not settings.PAYMENT_GATEWAY_URL:
        pytest.skip("this stack provides no payment gateway (env provider without one)")
    response = post(settings.PAYMENT_GATEWAY_URL, {**BODY, "reference": "stack-check"})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "answer"),
    [
        ("shipping/quotes", {"country": "DE", "items": 1}, {"amount": "4.90", "days": 2}),
        ("shipping/quotes", {"country": "us", "items": 3}, {"amount": "6.90", "days": 6}),
        ("fraud/checks", {"amount": "50.00", "currency": "EUR", "customer": "1"}, {"score": 0.01}),
        ("fraud/checks", {"amount": "4000", "currency": "EUR", "customer": "1"}, {"score": 0.8}),
    ],
)
def test_the_partners_answer(path: str, body: object, answer: dict[str, object]) -> None:
    with serve_in_thread() as server:
        response = httpx.post(f"{server.url}/v1/{path}", json=body, timeout=5)
    assert response.status_code == 200
    assert answer.items() <= response.json().items()
    if path == "fraud/checks":
        expected = "review" if answer["score"] >= 0.5 else "accept"  # type: ignore[operator]
        assert response.json()["verdict"] == expected


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("shipping/quotes", [1]),
        ("shipping/quotes", {"country": "DEU", "items": 1}),
        ("shipping/quotes", {"country": "DE", "items": 0}),
        ("shipping/quotes", {"country": "DE", "items": True}),
        ("fraud/checks", "x"),
        ("fraud/checks", {"amount": "-1", "currency": "EUR", "customer": "1"}),
        ("fraud/checks", {"amount": "1", "currency": "EURO", "customer": "1"}),
        ("fraud/checks", {"amount": "1", "currency": "EUR", "customer": 1}),
    ],
)
def test_the_partners_refuse_bad_bodies(path: str, body: object) -> None:
    with serve_in_thread() as server:
        response = httpx.post(f"{server.url}/v1/{path}", json=body, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
