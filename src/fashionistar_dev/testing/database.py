"""What a test leaves in the database for the next one: nothing but what migrate wrote itself."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections, transaction

# --8<-- [start:delete_every_row]
KEPT_TABLES = frozenset({"django_content_type", "auth_permission"})
"""What migrate writes itself (post_migrate's content types and permissions): no test adds to it."""


def delete_every_row(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Delete the rows of every model's table but :data:`KEPT_TABLES`, in one transaction.

    The foreign keys Django creates on PostgreSQL are checked at the commit, when every table is
    empty: the tables' order does not matter.

    Args:
        using: The database's alias.
    """
    connection = connections[using]
    names = connection.introspection.django_table_names(only_existing=True, include_views=False)
    emptied = sorted(set(names) - KEPT_TABLES)
    quoted = [connection.ops.quote_name(name) for name in emptied]  # the models' own tables
    statements = [f"DELETE FROM {name}" for name in quoted]  # noqa: S608
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("; ".join(statements))  # one round trip


# --8<-- [end:delete_every_row]
