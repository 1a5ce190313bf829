"""Fault tests: the card gateway fails (5xx) or answers after the client's timeout.

Through both APIs, against a real fake gateway (``fashionistar_dev.partners``) in a
thread, with the client's real timeouts (``fashionistar.payments.gateway.DEFAULT_TIMEOUT``):
the user gets a clear 503 ``payment_gateway_unavailable`` in the error shape, within the
timeout; a retry with the same ``Idempotency-Key`` once the gateway is well again pays the
order, and the gateway made exactly one charge (``tests/faults/gateway_faults.py``).
"""

from __future__ import annotations

import pytest

from tests.api_support import assert_error, both_apis
from tests.faults.gateway_faults import (
    READ_TIMEOUT_S,
    SLOWER_THAN_TIMEOUT_MS,
    gateway_anomalies,
    gateway_fault,
)

pytestmark = pytest.mark.django_db(transaction=True)


@both_apis
def test_a_failing_gateway_is_a_503_and_the_retry_charges_once(api) -> None:
    fault = gateway_fault(api=api, failure_rate=1.0)
    print(f"{api} gateway 5xx: 503 in {fault.first_s:.2f} s; retry: {fault.retry.status}")
    assert_error(fault.first, 503, "payment_gateway_unavailable")
    assert fault.first.body["extra"] == {"gateway_status": 503}
    assert gateway_anomalies(fault) == []


@both_apis
def test_a_gateway_slower_than_the_timeout_is_a_503_within_it_and_charges_once(api) -> None:
    fault = gateway_fault(api=api, latency_ms=SLOWER_THAN_TIMEOUT_MS)
    print(
        f"{api} gateway slower than the {READ_TIMEOUT_S:.0f} s timeout: 503 in "
        f"{fault.first_s:.2f} s; retry: {fault.retry.status}"
    )
    assert_error(fault.first, 503, "payment_gateway_unavailable")
    assert fault.first.body["extra"] == {"reason": "timeout"}
    assert fault.first_s >= READ_TIMEOUT_S  # it waited for the timeout, then answered
    assert gateway_anomalies(fault) == []
