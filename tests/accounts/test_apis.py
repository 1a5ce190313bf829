"""Account endpoints, in both APIs: a token for a username and password, and nothing else."""

from __future__ import annotations

import pytest

from tests.api_support import (
    assert_error,
    assert_invalid_fields,
    body_schema,
    both_apis,
    call,
    operation,
    token_for,
)

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


@both_apis
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "", "password": "a-long-passphrase"}, "username"),
        ({"username": "alice", "password": ""}, "password"),
        ({"username": "a" * 151, "password": "a-long-passphrase"}, "username"),
        ({"username": "alice", "password": "p" * 129}, "password"),
    ],
    ids=["blank username", "blank password", "username too long", "password too long"],
)
def test_credentials_outside_the_schema_are_invalid_input(api, body, field) -> None:
    assert_invalid_fields(call(api, "post", "auth/token", body=body), field)


@both_apis
def test_the_schemas_state_the_credentials_lengths(api) -> None:
    fields = body_schema(api, operation(api, "post", "auth/token"))["properties"]

    assert (fields["username"]["minLength"], fields["username"]["maxLength"]) == (1, 150)
    assert (fields["password"]["minLength"], fields["password"]["maxLength"]) == (1, 128)
