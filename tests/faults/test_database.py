"""Fault tests: PostgreSQL, then PgBouncer, really stopped and started while customers order.

Customers (``tests/faults/traffic.py``) place and read orders through both APIs; the stack's
server is stopped, left down for a moment and started again (``tests/faults/stack_faults.py``).
Users get either their answer or a clear 503 ``database_unavailable`` in the error shape, no
request hangs, orders go through again once the server is back, and every order answered
``201`` is in the database once, with the stock accounting for every order.
"""

from __future__ import annotations

import time

import pytest
from django.db import connection

from fashionistar_dev.stack.native import NativeStack
from tests.api_support import assert_error, both_apis, call, token_for
from tests.factories import make_product, make_user, variant_of
from tests.faults.stack_faults import PGBOUNCER, POSTGRES, service_down, service_restart
from tests.faults.traffic import fault_run

pytestmark = pytest.mark.django_db(transaction=True)

DOWN_S = 1.0
ALLOWED = {"200", "201", "503 database_unavailable"}
REQUEST_LIMIT_S = 6.0
"""Django connects with a 5 s ``connect_timeout``: no request should wait much longer."""


@pytest.fixture
def native(stack) -> NativeStack:
    if not isinstance(stack, NativeStack):
        pytest.skip("restarting a server needs the native stack")
    return stack


@pytest.mark.parametrize("name", [POSTGRES, PGBOUNCER])
def test_customers_get_503s_then_order_again_and_no_order_is_lost(native, name) -> None:
    def restart() -> float:
        service_restart(stack=native, name=name, down_s=DOWN_S)
        return time.monotonic()

    report = fault_run(restart, allowed=ALLOWED)
    print(report.line(f"{name} down {DOWN_S:.0f} s"))
    assert report.anomalies == []
    assert report.placed > 0
    assert report.unexpected == {}
    assert report.slowest_s <= REQUEST_LIMIT_S


@both_apis
def test_without_pgbouncer_every_call_is_a_503_in_the_error_shape(native, api) -> None:
    token = token_for(make_user())
    dress = variant_of(make_product(stock=3))
    order = {"items": [{"variant_id": dress.pk, "quantity": 1}]}
    calls = [("get", "orders", None), ("post", "orders", order), ("get", "catalog/products", None)]
    connection.close()
    with service_down(stack=native, name=PGBOUNCER):
        for method, path, body in calls:
            answer = call(api, method, path, token=token, **({"body": body} if body else {}))
            assert_error(answer, 503, "database_unavailable")
            connection.close()
    assert call(api, "post", "orders", token=token, body=order).status == 201
