"""The throttles both APIs share: per user, per IP, and no way around them with a header."""

from __future__ import annotations

import pytest

from tests.api_support import ASYNC, SYNC, assert_error, both_apis, call
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.usefixtures("fresh_throttles")
@both_apis
def test_users_are_throttled_with_retry_after(api, alice, settings) -> None:
    settings.API_THROTTLE_RATES = {"anon": "1000/minute", "user": "3/minute"}

    answers = [call(api, "get", "orders", user=alice) for _ in range(4)]

    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert_error(answers[-1], 429, "throttled")
    wait = int(answers[-1].headers["Retry-After"])
    assert 1 <= wait <= 60
    assert answers[-1].body["extra"] == {"retry_after": wait}
    # Another user has a budget of their own.
    assert call(api, "get", "orders", user=make_user()).status == 200


@pytest.mark.usefixtures("fresh_throttles")
@both_apis
def test_anonymous_clients_are_throttled_by_ip(api, settings) -> None:
    settings.API_THROTTLE_RATES = {"anon": "2/minute", "user": "1000/minute"}

    answers = [call(api, "get", "catalog/products") for _ in range(3)]

    assert [a.status for a in answers] == [200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) >= 1


@pytest.mark.usefixtures("fresh_throttles")
@pytest.mark.parametrize("api", [SYNC, ASYNC], ids=["drf", "ninja"])
def test_x_forwarded_for_does_not_dodge_the_throttle(api, settings) -> None:
    settings.API_THROTTLE_RATES = {"anon": "1/minute", "user": "1000/minute"}

    first = call(api, "get", "catalog/products", headers={"X-Forwarded-For": "10.0.0.1"})
    second = call(api, "get", "catalog/products", headers={"X-Forwarded-For": "10.0.0.2"})

    assert (first.status, second.status) == (200, 429)
