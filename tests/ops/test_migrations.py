"""Migrations: all reversible, the expand/contract change done for real, the safety linter."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.tasks import TaskResultStatus
from django_migration_linter import MigrationLinter
from django_migration_linter.sql_analyser import analyse_sql_statements
from django_migration_linter.sql_analyser.postgresql import PostgresqlAnalyser

from fashionistar.catalog.models import Product
from fashionistar.catalog.selectors import product_list
from fashionistar.catalog.services import product_search_text
from fashionistar.catalog.tasks import catalog_backfill_search_text
from fashionistar.ops.backup import PostgresTarget
from fashionistar.tasks.worker import drain
from fashionistar_dev.migration_lint import LINTER_IGNORED, lint_migrations
from tests.factories import make_product
from tests.processes import ROOT

EXPANDED = "0002_product_search_text"
CONTRACT = "0003_product_search_text_not_null"
UNIQUE_KEY_INDEX = "0004_order_idempotency_key_unique"


@pytest.fixture(scope="module")
def scratch_database_url():
    """A database of its own on the run's PostgreSQL (straight, not through PgBouncer)."""
    source = PostgresTarget.from_url(os.environ["DATABASE_DIRECT_URL"])
    name = f"migrations_{secrets.token_hex(4)}"
    with source.with_database("postgres").connect() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{os.environ['DATABASE_DIRECT_URL'].rsplit('/', 1)[0]}/{name}"
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def roundtrip(database_url: str) -> subprocess.CompletedProcess[str]:
    """``manage.py migrate_roundtrip`` in its own process, on another database."""
    return subprocess.run(
        [sys.executable, "manage.py", "migrate_roundtrip", "--destroy-data"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def first_round_trip(
    scratch_database_url: str,
) -> subprocess.CompletedProcess[str]:
    """The round trip on the empty scratch database; a successful one leaves it migrated."""
    return roundtrip(scratch_database_url)


def test_every_migration_goes_down_to_zero_and_up_again(
    first_round_trip: subprocess.CompletedProcess[str],
) -> None:
    print(first_round_trip.stdout)
    assert first_round_trip.returncode == 0, first_round_trip.stdout + first_round_trip.stderr
    assert "apps: unapplied" in first_round_trip.stdout


@pytest.mark.usefixtures("first_round_trip")  # it leaves the database migrated: straight down
def test_a_table_left_behind_at_zero_fails_the_round_trip(
    scratch_database_url: str,
) -> None:
    with PostgresTarget.from_url(scratch_database_url).connect() as scratch:
        scratch.execute("CREATE TABLE left_behind (id integer)")  # as a RunSQL without reverse
    run = roundtrip(scratch_database_url)
    assert run.returncode == 1
    assert "tables left after migrating every app to zero: ['left_behind']" in run.stderr


def test_the_round_trip_needs_to_be_told_it_destroys_data() -> None:
    with pytest.raises(CommandError, match="pass --destroy-data"):
        call_command("migrate_roundtrip")


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def set_search_text_null(products: list[Product]) -> None:
    """What the release before the expand step wrote: products without search_text."""
    Product.objects.filter(pk__in=[p.pk for p in products]).update(search_text=None)


def assert_filled(products: list[Product]) -> None:
    for product in Product.objects.filter(pk__in=[p.pk for p in products]):
        assert product.search_text == product_search_text(
            name=product.name, description=product.description
        )


@pytest.mark.django_db(transaction=True)
def test_expand_backfill_with_a_task_then_contract(clean_redis) -> None:
    products = [make_product(name=f"Linen Dress {n}") for n in range(5)]
    assert products[0].search_text.startswith("linen dress")  # the new code writes it
    call_command("migrate", "catalog", EXPANDED, verbosity=0)  # expanded, not contracted
    try:
        set_search_text_null(products)
        result = catalog_backfill_search_text.enqueue(batch_size=2)
        drain(queues=["analytics"])
        result.refresh()
        assert result.status == TaskResultStatus.SUCCESSFUL
        assert result.return_value == 2  # one batch; it enqueued the next ones itself
        assert not Product.objects.filter(search_text__isnull=True).exists()
        assert_filled(products)
    finally:
        call_command("migrate", "catalog", verbosity=0)  # contract
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.filter(pk=products[0].pk).update(search_text=None)
    assert product_list(search="LINEN dress").count() == 5


@pytest.mark.django_db(transaction=True)
def test_the_contract_step_fills_rows_the_task_has_not_reached() -> None:
    products = [make_product(name=f"Wool Coat {n}") for n in range(3)]
    call_command("migrate", "catalog", EXPANDED, verbosity=0)
    try:
        set_search_text_null(products[1:])
    finally:
        call_command("migrate", "catalog", CONTRACT, verbosity=0)
    assert_filled(products)


@pytest.mark.django_db
def test_no_migration_of_the_shop_is_unsafe_for_a_zero_downtime_deploy(capsys) -> None:
    linter = lint_migrations()
    output = capsys.readouterr().out
    print(output)
    assert not linter.has_errors, output
    assert f"(catalog, {CONTRACT})... IGNORE" in output
    assert f"(orders, {UNIQUE_KEY_INDEX})... IGNORE" in output
    assert set(LINTER_IGNORED) == {CONTRACT, UNIQUE_KEY_INDEX}


@pytest.mark.django_db
def test_the_linter_flags_a_not_null_column_and_a_rename(capsys) -> None:
    statements = [
        'ALTER TABLE "catalog_product" ADD COLUMN "weight" integer NOT NULL;',
        'ALTER TABLE "catalog_product" RENAME COLUMN "name" TO "title";',
    ]
    errors, _, _ = analyse_sql_statements(PostgresqlAnalyser, statements, [])
    assert {error.code for error in errors} >= {"NOT_NULL", "RENAME_COLUMN"}
    contract = MigrationLinter(include_apps=["catalog"], include_name=[CONTRACT], no_cache=True)
    contract.lint_all_migrations()
    assert contract.has_errors  # flagged: that is why LINTER_IGNORED names it, with its reason
    assert "NOT NULL constraint on columns" in capsys.readouterr().out
