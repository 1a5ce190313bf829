"""Schemathesis against both APIs, from their own OpenAPI schemas, with a real user's token.

Every operation of each schema gets ``EXAMPLES`` generated requests with valid data
(``positive``: half of them aimed at the user's real orders and variants, so that the success
paths run too) and as many with invalid data (``negative``: wrong types, missing fields, values
out of range), at least ``MIN_REQUESTS`` per API. The Ninja API is called in-process through
ASGI (``from_asgi``), the DRF API through WSGI (``from_wsgi``), both against the real
PostgreSQL (through PgBouncer), Redis and fake card gateway of the test stack.

Every answer must pass these checks: no 5xx (``not_a_server_error``), a status the schema
documents (``status_code_conformance``), a body and a content type as documented
(``response_schema_conformance``, ``content_type_conformance``). Not used:
``negative_data_rejection``, because both APIs treat a blank optional query parameter
(``?page_size=``) as absent, as DRF does, on purpose, where the check expects a 4xx.

Generation is derandomized (the same requests every run) and never shrinks: a failing request
is collected, and the test fails at the end listing every distinct failure. ``-s`` prints the
figures (requests, statuses) that ``docs/reliability.md`` quotes.
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fashionistar.orders.services import OrderItem, order_place
from tests.api_support import token_for
from tests.factories import make_product, make_user, variant_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_throttles")]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
MIN_REQUESTS = 1000
EXAMPLES = {"ninja": 60, "drf": 68}
"""Per operation and generation mode. Ninja has 9 operations, DRF 8 (no checkout); each runs in
both modes but the product detail (a slug has no invalid value): 17 x 60 and 15 x 68 requests."""

SCHEMAS = {
    "ninja": lambda: schemathesis.openapi.from_asgi(
        "/api/async/openapi.json", get_asgi_application()
    ),
    "drf": lambda: schemathesis.openapi.from_wsgi(
        "/api/sync/schema?format=json", get_wsgi_application()
    ),
}


@dataclass
class Run:
    """What one API answered."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)  # distinct failure -> report


def _aim(case: Any, order_id: int, variant_id: int, key: str) -> Any:
    """Point a valid request at a real order, a real variant (one unit) and a usable key."""
    if "order_id" in (case.path_parameters or {}):
        case.path_parameters["order_id"] = order_id
    if "Idempotency-Key" in (case.headers or {}):
        case.headers["Idempotency-Key"] = key
    items = case.body.get("items") if isinstance(case.body, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            item.update(variant_id=variant_id, quantity=1)
    return case


def _failures(error: BaseException) -> list[BaseException]:
    return list(error.exceptions) if isinstance(error, BaseExceptionGroup) else [error]


def _sender(run: Run, label: str, headers: dict[str, str]) -> Callable[[Any], None]:
    """Send one generated request, validate the answer, note the status and any failure."""

    def send(case: Any) -> None:
        run.requests += 1
        try:
            response = case.call(headers=headers)
            run.statuses[response.status_code] += 1
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseException as error:  # noqa: BLE001 - schemathesis raises a group of failures
            for failure in _failures(error):
                title = str(failure).splitlines()[0] if str(failure) else ""
                run.failures.setdefault(f"{label} {type(failure).__name__}: {title}", str(error))

    return send


def fuzz(
    schema: Any,
    *,
    examples: int,
    headers: dict[str, str],
    order_ids: list[int],
    variant_ids: list[int],
) -> Run:
    """Send ``examples`` requests per operation and mode; collect statuses and failures."""
    run = Run()
    budget = hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    real = st.tuples(
        st.sampled_from(order_ids),
        st.sampled_from(variant_ids),
        st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=40),
    )
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                aimed = st.tuples(cases, real).map(lambda pair: _aim(pair[0], *pair[1]))
                cases = st.one_of(cases, aimed)
            send = _sender(run, f"{operation.label} [{mode.value}]", headers)
            try:
                given(case=cases)(budget(send))()
            except Unsatisfiable:
                continue  # no invalid value exists for this operation's parameters
    return run


@pytest.mark.parametrize("api", list(SCHEMAS))
def test_generated_requests_get_documented_answers_and_never_a_5xx(api, settings) -> None:
    settings.API_THROTTLE_RATES = {"anon": "1000000/minute", "user": "1000000/minute"}
    user, stranger = make_user(), make_user()
    variants = [variant_of(make_product(stock=1000)) for _ in range(2)]
    orders = [
        order_place(user=owner, items=[OrderItem(variant_id=variants[0].pk, quantity=1)])
        for owner in (user, user, user, stranger)
    ]

    run = fuzz(
        SCHEMAS[api](),
        examples=EXAMPLES[api],
        headers={"Authorization": f"Token {token_for(user)}"},
        order_ids=[order.pk for order in orders],
        variant_ids=[variant.pk for variant in variants],
    )

    print(  # the figures for docs/reliability.md
        f"\nschemathesis {api}: {run.requests} requests, "
        f"statuses {dict(sorted(run.statuses.items()))}, {len(run.failures)} failures"
    )
    assert not run.failures, "\n\n".join(run.failures.values())
    assert run.requests >= MIN_REQUESTS
    assert not any(status >= 500 for status in run.statuses)
    assert run.statuses[200] + run.statuses[201] > 0  # the aimed requests reached success paths
