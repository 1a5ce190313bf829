"""The migration linter: none of the shop's migrations unsafe for a zero-downtime deploy.

:func:`lint_migrations` runs django-migration-linter (a development dependency) over the shop's
own apps: it reads the SQL of each migration (``sqlmigrate``) and flags what breaks the release
still running during a deploy: a NOT NULL column without a default, a dropped or renamed column
or table.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
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
