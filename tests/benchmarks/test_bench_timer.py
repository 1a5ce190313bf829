"""The benchmarks' app servers time each SQL statement by route and write the times as they stop."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import httpx
import pytest
from common import AppServer
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)

LISTS = {"asgi3": "/api/async/catalog/products", "wsgi": "/api/sync/catalog/products"}


@pytest.mark.parametrize("interface", sorted(LISTS))
def test_a_server_run_as_the_deploy_files_run_it_writes_its_statement_times(
    interface: str,
) -> None:
    # The deploy files' ASGI command has no lifespan, so no event tells its worker to stop.
    test_database = urlsplit(os.environ["DATABASE_URL"])._replace(
        path=f"/{connection.settings_dict['NAME']}"
    )
    server = AppServer(
        {**os.environ, "CATALOG_CACHE_S": "0"},
        interface=interface,
        workers=1,
        database_url=test_database.geturl(),
    )
    with server:
        for _ in range(2):
            assert httpx.get(f"{server.url}{LISTS[interface]}", timeout=10).status_code == 200
    times = server.query_times()
    server.cleanup()

    assert len(times[LISTS[interface]]) >= 2  # the list's statements, each request's
    assert all(0 < seconds < 10 for seconds in times[LISTS[interface]])
