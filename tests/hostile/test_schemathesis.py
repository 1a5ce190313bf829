"""Schemathesis against both APIs, from their own OpenAPI schemas, with a real user's token.

Schemathesis' engine, the one ``schemathesis run`` drives, tests every operation of each
schema: boundary values of every parameter (its coverage phase), then ``EXAMPLES`` generated
requests per operation with valid data and as many with invalid data (its fuzzing phase:
wrong types, missing fields, values out of range). The Ninja API is called in-process through
ASGI, the DRF API through WSGI, both against the real PostgreSQL (through PgBouncer), Redis and
fake card gateway of the test stack.

Valid requests reach real objects: the user has orders, the shop has products, and the
configuration binds the path's ``order_id`` and ``slug`` and the body's ``variant_id`` to
dictionaries of real values, half of the time (the other half probes values that do not
exist). Paying and cancelling draw from separate orders, so that neither finds every order
already paid or cancelled by the other. No schema can say which credentials are right: a hook
gives every other valid token request the user's.

Every answer must pass these checks: no 5xx (``not_a_server_error``), a status the schema
documents (``status_code_conformance``), a body, a content type and headers as documented
(``response_schema_conformance``, ``content_type_conformance``,
``response_headers_conformance``). Not used: ``negative_data_rejection``, because both APIs
treat a blank optional query parameter (``?page_size=``) as absent, as DRF does, on purpose,
where the check expects a 4xx; ``ignored_auth``, whose probe request fails in schemathesis'
WSGI transport (it passes ``max_redirects`` to werkzeug).

The run must also end without a schemathesis warning. ``validation_mismatch`` says that an
operation refused nearly every valid request: the API enforces a rule its schema does not
state. ``missing_test_data`` says that valid requests never got past a 404. Generation is
derandomized (the same requests every run). ``-s`` prints its counts (operations, cases,
statuses).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from schemathesis.cli.commands.run.context import ExecutionContext
from schemathesis.cli.events import LoadingFinished
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema
from schemathesis.generation.case import Case
from schemathesis.generation.modes import GenerationMode
from schemathesis.hooks import HookContext

from fashionistar.accounts.models import User
from fashionistar.orders.services import OrderItem, order_place
from tests.api_support import token_for
from tests.factories import make_product, make_user, variant_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_throttles")]

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "response_schema_conformance",
    "content_type_conformance",
    "response_headers_conformance",
]
EXAMPLES = 25
"""Generated requests per operation and mode (valid, invalid), after the coverage phase."""
MIN_CASES = 400
"""A floor: fewer cases would mean that a phase stopped running."""
PASSWORD = "a-long-passphrase"

SCHEMAS = {
    "ninja": lambda config: schemathesis.openapi.from_asgi(
        "/api/async/openapi.json", get_asgi_application(), config=config
    ),
    "drf": lambda config: schemathesis.openapi.from_wsgi(
        "/api/sync/schema?format=json", get_wsgi_application(), config=config
    ),
}


def half_of_the_time(dictionary: str) -> dict[str, Any]:
    return {"dictionary": dictionary, "probability": 0.5}


def configuration(
    *, token: str, real: dict[str, list[Any]] | None = None, examples: int = EXAMPLES
) -> SchemathesisConfig:
    """The run's configuration, as ``schemathesis.toml`` would hold it.

    Args:
        token: The user's API token.
        real: The ids of :func:`real_objects`; without them, every value is generated.
        examples: Generated requests per operation and mode.
    """
    reach = (
        {}
        if real is None
        else {
            "dictionaries": {name: {"values": values} for name, values in real.items()},
            "parameters": {
                "path.order_id": half_of_the_time("orders"),
                "path.slug": half_of_the_time("slugs"),
                "body.items[*].variant_id": half_of_the_time("variants"),
            },
            "operations": [
                {
                    "include-path-regex": f"/{action}$",
                    "parameters": {"path.order_id": half_of_the_time(f"orders to {action}")},
                }
                for action in ("pay", "cancel")
            ],
        }
    )
    return SchemathesisConfig.from_dict(
        {
            "seed": 1,
            "suppress-health-check": ["all"],
            "cache": {"enabled": False},
            "headers": {"Authorization": f"Token {token}"},
            "generation": {"max-examples": examples, "deterministic": True, "database": "none"},
            "checks": {"enabled": False} | {check: {"enabled": True} for check in CHECKS},
            **reach,
        }
    )


@dataclass
class Run:
    """What one API answered, and what schemathesis made of it."""

    operations: int = 0
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


def run_schemathesis(schema: Any) -> Run:
    """Run every phase of schemathesis' engine; collect statuses, failures and its warnings.

    The warnings are the ones the command line prints, judged by the same collector.
    """
    started = time.monotonic()
    context = ExecutionContext(config=schema.config)
    context.on_event(
        LoadingFinished.from_schema(
            schema, location=schema.location or "", start_time=time.time(), base_url=""
        )
    )
    run = Run()
    for event in from_schema(schema).execute():
        context.on_event(event)
        if isinstance(event, events.ScenarioFinished):
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    run.statuses[interaction.response.status_code] += 1
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.value!r}")
    run.operations = len(context.statistic.tested_operations)
    run.cases = context.statistic.total_cases
    run.failures = [
        f"{label}: {failure.title}: {failure.message}"
        for label, groups in context.statistic.failures.items()
        for group in groups.values()
        for failure in group.failures
    ]
    run.warnings = {kind: labels for kind, labels in context.warnings.as_labels().items() if labels}
    run.seconds = time.monotonic() - started
    return run


def real_objects() -> tuple[User, dict[str, list[Any]]]:
    """A user with orders, a stranger's order, products with plenty of stock: their ids."""
    user, stranger = make_user(password=PASSWORD), make_user()
    products = [make_product(stock=1_000_000, sizes=("S", "M")) for _ in range(3)]
    variant = variant_of(products[0])

    def orders(owner: Any, count: int) -> list[int]:
        item = OrderItem(variant_id=variant.pk, quantity=1)
        return [order_place(user=owner, items=[item]).pk for _ in range(count)]

    real = {
        "orders": [*orders(user, 3), *orders(stranger, 1)],
        "orders to pay": orders(user, 5),
        "orders to cancel": orders(user, 5),
        "variants": [v.pk for product in products for v in product.variants.all()],
        "slugs": [product.slug for product in products],
    }
    return user, real


def with_real_credentials(schema: Any, *, username: str) -> Any:
    """Give every other valid token request (in every phase) the user's credentials."""
    turn = itertools.count()

    @schema.hook.apply_to(path_regex="/auth/token$")
    def map_case(context: HookContext, case: Case) -> Case:
        valid = case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE
        if valid and isinstance(case.body, dict) and next(turn) % 2 == 0:
            case.body = {**case.body, "username": username, "password": PASSWORD}
        return case

    return schema


@pytest.mark.parametrize("api", list(SCHEMAS))
def test_generated_requests_get_documented_answers_and_schemathesis_warns_of_nothing(
    api, settings
) -> None:
    settings.API_THROTTLE_RATES = {"anon": "1000000/minute", "user": "1000000/minute"}
    user, real = real_objects()
    schema = SCHEMAS[api](configuration(token=token_for(user), real=real))

    run = run_schemathesis(with_real_credentials(schema, username=user.username))

    print(  # the counts, with -s
        f"\nschemathesis {api}: {run.operations} operations, {run.cases} cases, "
        f"statuses {dict(sorted(run.statuses.items()))}, {len(run.failures)} failures, "
        f"warnings {run.warnings or 'none'}, {run.seconds:.0f} s"
    )
    assert not run.errors, "\n".join(run.errors)
    assert not run.failures, "\n".join(run.failures)
    assert not run.warnings, run.warnings
    assert run.operations == schema.statistic.operations.total
    assert run.cases >= MIN_CASES
    assert not any(status >= 500 for status in run.statuses)
    assert {200, 201, 304} & set(run.statuses)  # valid requests reached the success paths


def test_the_warnings_are_caught_when_valid_requests_cannot_succeed(settings) -> None:
    """Without the real objects and credentials, schemathesis warns, and the test above fails."""
    settings.API_THROTTLE_RATES = {"anon": "1000000/minute", "user": "1000000/minute"}
    schema = SCHEMAS["ninja"](configuration(token=token_for(make_user()), examples=10))

    run = run_schemathesis(schema.include(path_regex="/(auth/token|orders/{order_id})$"))

    assert run.warnings == {
        "missing_test_data": ["GET /api/async/orders/{order_id}"],
        "validation_mismatch": ["POST /api/async/auth/token"],
    }
