"""Exercise 11, reference solution: nothing outlives a transaction, connections are pooled."""

from __future__ import annotations

from typing import Any

import dj_database_url


def database_settings(url: str) -> dict[str, Any]:
    """Build the ``DATABASES["default"]`` entry for a ``postgres://`` URL pointing at PgBouncer.

    Transaction pooling lends a server connection for one transaction: no server-side cursors
    (``QuerySet.iterator()`` would use them), no prepared statements (psycopg's
    ``prepare_threshold`` stays ``None``). Each process keeps a few connections to PgBouncer in
    Django's pool, checked before each loan.

    Args:
        url: PgBouncer's address, ``postgres://user@host:port/dbname``.

    Returns:
        The entry.
    """
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
    config["DISABLE_SERVER_SIDE_CURSORS"] = True
    config["CONN_HEALTH_CHECKS"] = True
    config["OPTIONS"] = {"pool": {"min_size": 1, "max_size": 8, "timeout": 2}}
    return config
