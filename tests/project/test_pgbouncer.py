"""PgBouncer: one template, transaction pooling, and Django really connects through it."""

from __future__ import annotations

import configparser

import psycopg
import pytest
from django.db import connection

from fashionistar_dev.stack.pgbouncer import render_pgbouncer_ini


def test_template_fixes_the_pooling_settings() -> None:
    ini = render_pgbouncer_ini(
        postgres_host="db",
        postgres_port=5432,
        listen_port=6432,
        auth_file="/etc/pgbouncer/userlist.txt",
        logfile="",
        pidfile="",
        auth_type="scram-sha-256",
    )
    parser = configparser.ConfigParser()
    parser.read_string(ini)
    settings = parser["pgbouncer"]
    assert settings["pool_mode"] == "transaction"
    assert settings["default_pool_size"] == "25"
    assert settings["max_client_conn"] == "10000"
    assert settings["auth_type"] == "scram-sha-256"
    assert parser["databases"]["*"] == "host=db port=5432"


def show_clients(admin_url: str) -> list[dict[str, object]]:
    with psycopg.connect(admin_url, autocommit=True) as admin:
        cursor = admin.execute("SHOW CLIENTS")
        columns = [column.name for column in cursor.description or []]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.django_db
def test_django_connection_is_a_pgbouncer_client(stack) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    clients = show_clients(stack.urls.pgbouncer_admin_url)
    shop_clients = [client for client in clients if client["database"] == "fashionistar"]
    assert shop_clients, clients
    assert int(connection.settings_dict["PORT"]) == shop_clients[0]["local_port"]
