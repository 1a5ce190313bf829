"""Exercise 11: the DATABASES entry of an app that talks to PgBouncer in transaction mode."""

from __future__ import annotations

from typing import Any

import dj_database_url


# TODO: these are settings for a PostgreSQL server you talk to directly. Behind PgBouncer in
# transaction mode, a server connection is yours for one transaction only.
def database_settings(url: str) -> dict[str, Any]:
    """Build the ``DATABASES["default"]`` entry for a ``postgres://`` URL pointing at PgBouncer.

    Args:
        url: PgBouncer's address, ``postgres://user@host:port/dbname``.

    Returns:
        The entry.
    """
    config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=600))
    config["OPTIONS"] = {"prepare_threshold": 5}  # psycopg prepares what runs five times
    return config
