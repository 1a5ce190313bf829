"""The echo-task endpoints: staff only, and every bad input a clear 4xx with the error shape."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from fashionistar.tasks.worker import drain
from tests.api_support import SYNC, assert_error, call
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

ECHO = "ops/echo-task"


@pytest.fixture
def staff():
    user = make_user()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def test_a_staff_user_sends_a_value_and_a_worker_sends_it_back(staff, clean_redis) -> None:
    # clean_redis: an order placed by an earlier test leaves its payment deadline scheduled on
    # the critical queue, which the drain below would wait for.
    sent = call(SYNC, "post", ECHO, user=staff, body={"value": 41})
    assert sent.status == 202
    assert sent.body["status"] == "READY"
    assert sent.body["return_value"] is None
    drain(queues=["critical"])
    answer = call(SYNC, "get", f"{ECHO}/{sent.body['task_id']}", user=staff)
    assert answer.status == 200
    assert answer.body == {
        "task_id": sent.body["task_id"],
        "status": "SUCCESSFUL",
        "return_value": 41,
    }


@pytest.mark.parametrize(
    "body", [{}, {"value": "seven"}, {"value": 2**31}, {"value": None}, [1], "x"]
)
def test_a_bad_value_is_a_400(staff, body) -> None:
    assert_error(call(SYNC, "post", ECHO, user=staff, body=body), 400)


def test_a_body_that_is_not_json_is_a_400(staff) -> None:
    assert_error(call(SYNC, "post", ECHO, user=staff, raw="{"), 400)


def test_an_unknown_or_malformed_task_id_is_a_404(staff) -> None:
    assert_error(call(SYNC, "get", f"{ECHO}/{uuid.uuid4()}", user=staff), 404, "not_found")
    assert_error(call(SYNC, "get", f"{ECHO}/not-a-uuid", user=staff), 404, "not_found")
    assert_error(call(SYNC, "get", f"{ECHO}/%00", user=staff), 404, "not_found")


def test_anybody_but_staff_is_refused_whatever_the_id(staff) -> None:
    assert_error(call(SYNC, "post", ECHO, body={"value": 1}), 401)
    for task_id in (uuid.uuid4(), "not-a-uuid"):
        assert_error(call(SYNC, "get", f"{ECHO}/{task_id}"), 401)
        assert_error(call(SYNC, "get", f"{ECHO}/{task_id}", user=make_user()), 403)
    assert_error(call(SYNC, "post", ECHO, user=make_user(), body={"value": 1}), 403)


def test_the_endpoints_stay_out_of_the_public_schema() -> None:
    schema = Client().get("/api/sync/schema?format=json").json()
    assert not [path for path in schema["paths"] if "/ops/" in path]
