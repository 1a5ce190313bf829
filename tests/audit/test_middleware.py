"""The audit middleware: one row per state-changing /api/ request, under WSGI and ASGI."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, OperationalError
from django.test import RequestFactory

from fashionistar.audit.models import AuditEntry
from fashionistar.observability.middleware import request_id_of
from fashionistar.orders.models import Order
from tests.api_support import ASYNC, SYNC, both_apis, call
from tests.factories import make_product, make_user, variant_of

pytestmark = pytest.mark.django_db(transaction=True)

# Each API under both servers: the middleware's sync path (WSGI) and async path (ASGI).
servers = pytest.mark.parametrize(
    ("api", "asgi"),
    [(SYNC, False), (SYNC, True), (ASYNC, False), (ASYNC, True)],
    ids=["drf-wsgi", "drf-asgi", "ninja-wsgi", "ninja-asgi"],
)


@servers
def test_placing_an_order_is_audited_with_who_what_and_where(api, asgi) -> None:
    user = make_user()
    variant = variant_of(make_product())

    answer = call(
        api,
        "post",
        "orders",
        user=user,
        asgi=asgi,
        body={"items": [{"variant_id": variant.pk, "quantity": 1}]},
        headers={"User-Agent": "pytest-agent/1.0", "X-Request-ID": "req-42.a_b"},
    )

    assert answer.status == 201, answer.body
    assert answer.headers["X-Request-ID"] == "req-42.a_b"
    entry = AuditEntry.objects.get()
    assert entry.user == user
    assert entry.ip == "127.0.0.1"
    assert entry.user_agent == "pytest-agent/1.0"
    assert entry.request_id == "req-42.a_b"
    assert entry.method == "POST"
    assert entry.path == f"{api}orders"
    assert entry.status_code == 201
    assert entry.action == "order.place"
    assert (entry.object_type, entry.object_id) == ("order", str(Order.objects.get().pk))


@servers
def test_a_refused_request_is_audited_too(api, asgi) -> None:
    answer = call(api, "post", "orders/7/cancel", asgi=asgi)

    assert answer.status == 401
    entry = AuditEntry.objects.get()
    assert entry.user is None
    assert entry.status_code == 401
    assert entry.path == f"{api}orders/7/cancel"
    assert entry.action  # the URL's view name when the view never ran


@servers
def test_a_session_user_is_recorded(api, asgi) -> None:
    user = make_user()

    call(api, "post", "orders", session=user, asgi=asgi, body={"items": []})

    entry = AuditEntry.objects.get()
    assert entry.user == user
    assert entry.status_code == 400


@both_apis
def test_the_cancelled_order_is_the_audited_object(api) -> None:
    user = make_user()
    variant = variant_of(make_product())
    body = {"items": [{"variant_id": variant.pk, "quantity": 1}]}
    order_id = call(api, "post", "orders", user=user, body=body).body["id"]

    call(api, "post", f"orders/{order_id}/cancel", user=user)

    entry = AuditEntry.objects.order_by("pk").last()
    assert entry is not None
    assert entry.action == "order.cancel"
    assert (entry.object_type, entry.object_id) == ("order", str(order_id))


@both_apis
def test_reads_are_not_audited_but_get_a_request_id(api) -> None:
    answer = call(api, "get", "catalog/products")

    assert answer.status == 200
    assert len(answer.headers["X-Request-ID"]) == 32
    assert not AuditEntry.objects.exists()


def test_paths_outside_the_api_are_not_audited(client) -> None:
    client.post("/healthz")

    assert not AuditEntry.objects.exists()


@both_apis
@pytest.mark.parametrize("given", ["", "has space", "x" * 65, "semi;colon", "ünïcode"])
def test_an_unsafe_request_id_is_replaced(api, given) -> None:
    answer = call(api, "post", "auth/token", body={}, headers={"X-Request-ID": given})

    new_id = answer.headers["X-Request-ID"]
    assert new_id != given
    assert len(new_id) == 32
    assert AuditEntry.objects.get().request_id == new_id


@both_apis
def test_x_forwarded_for_is_ignored_unless_trusted(api, settings) -> None:
    headers = {"X-Forwarded-For": "203.0.113.9, 10.0.0.1"}

    call(api, "post", "auth/token", body={}, headers=headers)
    settings.TRUST_X_FORWARDED_FOR = True
    call(api, "post", "auth/token", body={}, headers=headers)

    assert list(AuditEntry.objects.order_by("pk").values_list("ip", flat=True)) == [
        "127.0.0.1",
        "203.0.113.9",
    ]


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
@pytest.mark.parametrize(
    ("error", "level", "traceback"),
    [
        (DatabaseError("audit table gone"), "ERROR", True),
        (OperationalError("couldn't get a connection after 2.00 sec"), "WARNING", False),
    ],
    ids=["broken", "unavailable"],
)
def test_a_failed_audit_write_is_logged_and_the_response_still_goes_out(
    asgi, error, level, traceback, monkeypatch, caplog
) -> None:
    def broken(**kwargs):
        raise error

    async def abroken(**kwargs):
        raise error

    monkeypatch.setattr("fashionistar.audit.middleware.audit_record", broken)
    monkeypatch.setattr("fashionistar.audit.middleware.aaudit_record", abroken)

    answer = call(SYNC, "post", "auth/token", body={}, asgi=asgi)

    assert answer.status == 400
    (logged,) = [r for r in caplog.records if r.getMessage().startswith("Audit entry not written")]
    assert logged.levelname == level
    assert (logged.exc_info is not None) is traceback


def test_request_id_of_keeps_safe_tokens_only() -> None:
    factory = RequestFactory()

    assert request_id_of(factory.get("/", headers={"X-Request-ID": "abc-1.2_3"})) == "abc-1.2_3"
    assert len(request_id_of(factory.get("/", headers={"X-Request-ID": "a\nb"}))) == 32
    assert len(request_id_of(factory.get("/"))) == 32
