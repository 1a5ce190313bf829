"""Account endpoints, in both APIs: a token for a username and password, and nothing else."""

from __future__ import annotations

import pytest

from tests.api_support import assert_error, assert_invalid_fields, both_apis, call, token_for

pytestmark = pytest.mark.django_db(transaction=True)


@both_apis
def test_a_token_is_obtained_with_username_and_password(api, alice) -> None:
    answer = call(
        api, "post", "auth/token", body={"username": "alice", "password": "a-long-passphrase"}
    )

    assert answer.status == 200
    assert answer.body == {"token": token_for(alice)}
    assert call(api, "get", "orders", token=answer.body["token"]).status == 200


@both_apis
@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": "a-long-passphrase"},
    ],
)
def test_wrong_credentials_get_no_token(api, alice, body) -> None:
    assert_error(call(api, "post", "auth/token", body=body), 400, "invalid_credentials")


@both_apis
def test_missing_credentials_are_invalid_input(api) -> None:
    answer = call(api, "post", "auth/token", body={"username": "alice"})

    assert_invalid_fields(answer, "password")
