"""Every migration reversible: apply them all, unapply them all, apply them again.

``manage.py migrate_roundtrip --destroy-data`` runs :func:`migrate_roundtrip` on a database made
for it: a migration without a working reverse fails it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor


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
