"""The database settings at work: a request borrows a connection from Django's pool."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = 20


def test_requests_borrow_pooled_connections_instead_of_opening_their_own() -> None:
    borrowed = set()
    connection.ensure_connection()
    connection.close()
    assert connection.pool is not None
    connection.pool.pop_stats()  # count from here: earlier tests used the same pool
    for _ in range(REQUESTS):  # what each request does: connect when it needs to, close at its end
        connection.ensure_connection()
        borrowed.add(connection.connection)
        connection.close()

    stats = connection.pool.pop_stats()
    assert stats["requests_num"] == REQUESTS
    assert stats.get("connections_num", 0) == 0  # none opened: the pooled ones, lent again
    assert len(borrowed) <= connection.settings_dict["OPTIONS"]["pool"]["max_size"]
    assert not any(psycopg_connection.closed for psycopg_connection in borrowed)  # idle, pooled
