"""Exercise 11: the participant's DATABASES entry, through the stack's PgBouncer."""

from __future__ import annotations

import os
from collections.abc import Iterator
from uuid import uuid4

import psycopg
import pytest
from django.contrib.auth.models import Permission
from django.db import DatabaseError, connections

PARTICIPANT_FILE = "database.py"


@pytest.fixture(autouse=True)
def database_access(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Connections of our own, outside a test transaction (the rows read are migrate's)."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def config(participant) -> dict:
    return participant.database_settings(os.environ["DATABASE_URL"])


@pytest.fixture
def alias(config) -> Iterator[str]:
    """A database alias made of the participant's entry (and Django's defaults)."""
    alias = f"workshop_{uuid4().hex}"
    connections.settings[alias] = connections.configure_settings({"default": dict(config)})[
        "default"
    ]
    yield alias
    database = connections[alias]
    database.close()
    if database.settings_dict["OPTIONS"].get("pool"):
        database.close_pool()
    del connections[alias]
    del connections.settings[alias]


def test_a_chunked_read_survives_another_client_between_two_fetches(alias) -> None:
    rows = Permission.objects.using(alias).order_by("pk").values_list("pk", flat=True)
    chunks = rows.iterator(chunk_size=2)  # what a large export reads through
    try:
        first = next(chunks)
        with (
            psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as other,
            other.transaction(),  # takes the server connection the read used last
        ):
            other.execute("SELECT 1")
            rest = list(chunks)
    except (DatabaseError, psycopg.Error) as error:  # the cursor's close fails too
        broke = type(error.__cause__ or error).__name__
    else:
        broke = ""
    assert not broke, f"QuerySet.iterator() broke behind PgBouncer: {broke}"
    assert [first, *rest] == list(rows)


def test_no_statement_is_prepared(alias, config) -> None:
    database = connections[alias]
    database.ensure_connection()
    threshold = database.connection.prepare_threshold
    assert threshold is None, (
        f"psycopg prepares a statement run {threshold} times: its next run may land on a "
        "server connection that never prepared it"
    )
    assert config["OPTIONS"].get("server_side_binding") is not True


def test_connections_come_from_a_small_pool_checked_before_each_loan(alias, config) -> None:
    database = connections[alias]
    assert database.pool is not None, "no pool: each request would open its own connection"
    assert 1 <= database.pool.max_size <= 10, f"max_size {database.pool.max_size} per process"
    assert database.pool.timeout <= 5, f"a request may wait {database.pool.timeout} s"
    assert config["CONN_HEALTH_CHECKS"] is True, "a connection PgBouncer closed would be lent"
    for _ in range(2):  # a request borrows a connection, runs its queries, gives it back
        with database.cursor() as cursor:
            cursor.execute("SELECT 1")
        database.close()
    assert database.pool.get_stats()["connections_num"] <= database.pool.max_size
