"""Migration checks: every migration reversible, and none unsafe for a zero-downtime deploy.

- :func:`migrate_roundtrip` (``manage.py migrate_roundtrip --destroy-data``) applies every
  migration, unapplies all of them (every app to zero), checks that no table is left, and
  applies them again: a migration without a working reverse fails it.
- :func:`lint_migrations` runs django-migration-linter over the shop's own apps: it reads the
  SQL of each migration (``sqlmigrate``) and flags what breaks the release still running during
  a deploy: a NOT NULL column without a default, a dropped or renamed column or table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django_migration_linter import MigrationLinter

PROJECT_PACKAGE = "fashionistar."

# --8<-- [start:linter_ignored]
LINTER_IGNORED: dict[str, str] = {
    "0003_product_search_text_not_null": (
        "the contract step of catalog's expand/contract change: it ships one release after the "
        "code that writes search_text, so no running process inserts a NULL"
    ),
    "0004_order_idempotency_key_unique": (
        "a unique index built CONCURRENTLY (no lock on writes) over the orders that have a key: "
        "every order before it has none, so no existing row can break it"
    ),
}
"""Migrations the linter flags on purpose, by name, each with the reason it is safe."""
# --8<-- [end:linter_ignored]


class MigrationCheckError(RuntimeError):
    """A migration check failed; the message names what is wrong."""


@dataclass(frozen=True)
class RoundTrip:
    """What a round trip did.

    Attributes:
        apps: Apps with migrations.
        unapplied: Migrations unapplied on the way to zero.
        reapplied: Migrations applied again.
        backward_seconds: Time to unapply them all.
        forward_seconds: Time to apply them all again.
    """

    apps: int
    unapplied: int
    reapplied: int
    backward_seconds: float
    forward_seconds: float


def _migrate(using: BaseDatabaseWrapper, targets: list[tuple[str, str | None]]) -> int:
    executor = MigrationExecutor(using)
    plan = executor.migration_plan(targets)
    executor.migrate(targets, plan=plan)
    return len(plan)


def migrate_roundtrip(*, using: BaseDatabaseWrapper = connection) -> RoundTrip:
    """Apply every migration, unapply them all, check nothing is left, apply them again.

    It drops every table on the way: run it on a database made for it.

    Args:
        using: The database connection.

    Returns:
        Counts and times.

    Raises:
        MigrationCheckError: Tables were left at zero (a reverse that does not undo).
    """
    leaves = MigrationExecutor(using).loader.graph.leaf_nodes()
    _migrate(using, leaves)
    labels = sorted({label for label, _ in leaves})
    started = time.perf_counter()
    unapplied = _migrate(using, [(label, None) for label in labels])
    backward = time.perf_counter() - started
    left = sorted(set(using.introspection.table_names()) - {"django_migrations"})
    if left:
        raise MigrationCheckError(f"tables left after migrating every app to zero: {left}")
    started = time.perf_counter()
    reapplied = _migrate(using, leaves)
    return RoundTrip(
        apps=len(labels),
        unapplied=unapplied,
        reapplied=reapplied,
        backward_seconds=backward,
        forward_seconds=time.perf_counter() - started,
    )


def project_app_labels() -> list[str]:
    """Return the labels of the shop's own apps (``fashionistar.*``).

    Returns:
        The labels, sorted.
    """
    return sorted(
        config.label for config in apps.get_app_configs() if config.name.startswith(PROJECT_PACKAGE)
    )


# --8<-- [start:lint_migrations]
def lint_migrations() -> Any:
    """Lint the shop's migrations with django-migration-linter; it prints one line each.

    Returns:
        The linter; ``has_errors`` says whether a migration is unsafe.
    """
    linter = MigrationLinter(
        path=str(settings.BASE_DIR),
        include_apps=project_app_labels(),
        ignore_name=list(LINTER_IGNORED),
        no_cache=True,
    )
    linter.lint_all_migrations()
    linter.print_summary()
    return linter


# --8<-- [end:lint_migrations]
