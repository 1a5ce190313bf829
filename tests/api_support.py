"""Helpers for the API tests: one call shape for both APIs, real requests through Django.

The sync API (DRF) is called through Django's test ``Client`` (WSGI), the async API (Ninja)
through ``AsyncClient`` (ASGI) driven by ``async_to_sync``, as production serves them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from rest_framework.authtoken.models import Token

from fashionistar.accounts.models import User
from fashionistar.inventory.models import Stock
from tests.factories import variant_of

SYNC = "/api/sync/"
ASYNC = "/api/async/"
APIS = (SYNC, ASYNC)
ERROR_KEYS = {"code", "message", "extra"}

both_apis = pytest.mark.parametrize("api", APIS, ids=["drf", "ninja"])

_NOTHING = object()


@dataclass
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


def token_for(user: User) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def call(
    api: str,
    method: str,
    path: str,
    *,
    user: User | None = None,
    token: str | None = None,
    session: User | None = None,
    body: Any = _NOTHING,
    raw: str | bytes | None = None,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, Any] | None = None,
    asgi: bool | None = None,
    enforce_csrf: bool = False,
) -> Answer:
    """Send one request to an API; ``user`` authenticates with a token, ``session`` logs in."""
    all_headers = dict(headers or {})
    if user is not None:
        token = token_for(user)
    if token is not None:
        all_headers["Authorization"] = f"Token {token}"
    use_asgi = (api == ASYNC) if asgi is None else asgi
    client: Client | AsyncClient = (
        AsyncClient(enforce_csrf_checks=enforce_csrf)
        if use_asgi
        else Client(enforce_csrf_checks=enforce_csrf)
    )
    if session is not None:
        client.force_login(session)
    kwargs: dict[str, Any] = {"headers": all_headers}
    if raw is not None:
        kwargs.update(data=raw, content_type=content_type)
    elif body is not _NOTHING and method != "get":
        kwargs.update(data=json.dumps(body), content_type="application/json")
    elif query is not None:
        kwargs.update(data=query)
    elif method == "post":
        kwargs.update(content_type="application/json")
    send = getattr(client, method)
    response = async_to_sync(send)(api + path, **kwargs) if use_asgi else send(api + path, **kwargs)
    content = response.content
    parsed = json.loads(content) if content and "json" in response.get("Content-Type", "") else None
    return Answer(response.status_code, parsed, response.headers)


def assert_error(answer: Answer, status: int, code: str | None = None) -> None:
    assert answer.status == status, (answer.status, answer.body)
    assert isinstance(answer.body, dict), answer.body
    assert set(answer.body) == ERROR_KEYS, answer.body
    assert isinstance(answer.body["code"], str)
    assert isinstance(answer.body["message"], str)
    assert isinstance(answer.body["extra"], dict)
    if code is not None:
        assert answer.body["code"] == code, answer.body


def assert_invalid_fields(answer: Answer, *fields: str) -> None:
    """A 400 ``invalid_input`` error that names exactly these fields."""
    assert_error(answer, 400, "invalid_input")
    assert list(answer.body["extra"]["fields"]) == list(fields), answer.body


SCHEMA_URLS = {SYNC: "/api/sync/schema?format=json", ASYNC: "/api/async/openapi.json"}


def openapi(api: str) -> dict[str, Any]:
    """An API's OpenAPI schema, as it serves it."""
    return Client().get(SCHEMA_URLS[api]).json()


def operation(api: str, method: str, path: str) -> dict[str, Any]:
    """One operation of an API's OpenAPI schema (``path`` below the API's root)."""
    return openapi(api)["paths"][api + path][method]


def parameter(op: dict[str, Any], name: str) -> dict[str, Any]:
    """The schema of one parameter of an operation."""
    return next(p for p in op["parameters"] if p["name"] == name)["schema"]


def resolved(api: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A schema, or the component its ``$ref`` names."""
    if "$ref" not in schema:
        return schema
    return openapi(api)["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]


def body_schema(api: str, op: dict[str, Any]) -> dict[str, Any]:
    """The JSON body's schema of an operation."""
    return resolved(api, op["requestBody"]["content"]["application/json"]["schema"])


def place(api, user, dress, quantity=2, **kwargs):
    body = {"items": [{"variant_id": variant_of(dress).pk, "quantity": quantity}]}
    return call(api, "post", "orders", user=user, body=body, **kwargs)


def stock_of(dress, index=0) -> int:
    return Stock.objects.get(variant=variant_of(dress, index)).quantity
