"""Backup and restore: orders placed, backed up, destroyed, restored into a fresh instance."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from fashionistar.inventory.models import Stock
from fashionistar.ops import backup
from fashionistar.ops.backup import (
    BackupError,
    PostgresTarget,
    database_fingerprint,
    db_backup,
)
from fashionistar.orders.models import Order, OrderStatus
from fashionistar.orders.services import OrderItem, order_cancel, order_place
from fashionistar.payments.models import Payment, PaymentStatus
from fashionistar.payments.services import payment_charge
from tests.factories import make_product, make_user, variant_of

ROOT = Path(__file__).resolve().parents[2]
DIRECT_URL = "DATABASE_DIRECT_URL"

pytestmark = pytest.mark.django_db(transaction=True)


def place_orders() -> None:
    """A paid order, a declined one still placed, a cancelled one: every kind of figure."""
    alice, bob = make_user(), make_user()
    dress = make_product(price="89.00", stock=10, sizes=("S", "M"))
    coat = make_product(price="399.00", stock=3, category="jackets")
    paid = order_place(
        user=alice,
        items=[OrderItem(variant_of(dress).pk, 2), OrderItem(variant_of(coat).pk, 1)],
    )
    payment_charge(
        user=alice, order_id=paid.pk, idempotency_key="pay-1", payload={"card_token": "tok_visa"}
    )
    declined = order_place(user=bob, items=[OrderItem(variant_of(dress, 1).pk, 3)])
    payment_charge(
        user=bob,
        order_id=declined.pk,
        idempotency_key="pay-2",
        payload={"card_token": "tok_declined"},
    )
    cancelled = order_place(user=bob, items=[OrderItem(variant_of(coat).pk, 2)])
    order_cancel(order_id=cancelled.pk, user=bob)


def shop_figures() -> dict[str, list[tuple]]:
    """Every order, payment and stock figure, as the application reads them."""
    return {
        "orders": list(
            Order.objects.order_by("pk").values_list("pk", "user_id", "status", "total")
        ),
        "payments": list(
            Payment.objects.order_by("pk").values_list("order_id", "status", "amount")
        ),
        "stock": list(Stock.objects.order_by("variant_id").values_list("variant_id", "quantity")),
    }


SHOP_FIGURES_SQL = {
    "orders": "SELECT id, user_id, status, total FROM orders_order ORDER BY id",
    "payments": "SELECT order_id, status, amount FROM payments_payment ORDER BY id",
    "stock": "SELECT variant_id, quantity FROM inventory_stock ORDER BY variant_id",
}


def figures_in(database_url: str) -> dict[str, list[tuple]]:
    with PostgresTarget.from_url(database_url).connect() as connection:
        return {
            name: [tuple(row) for row in connection.execute(query)]
            for name, query in SHOP_FIGURES_SQL.items()
        }


def test_orders_payments_and_stock_survive_backup_destruction_and_restore(
    tmp_path, fresh_instance
) -> None:
    place_orders()
    before = shop_figures()
    assert [status for _, _, status, _ in before["orders"]] == [
        OrderStatus.PAID,
        OrderStatus.PLACED,
        OrderStatus.CANCELLED,
    ]
    assert [status for _, status, _ in before["payments"]] == [
        PaymentStatus.SUCCEEDED,
        PaymentStatus.DECLINED,
    ]
    fingerprint = database_fingerprint(database_url=os.environ[DIRECT_URL])
    dump = tmp_path / "shop.dump"

    call_command("db_backup", "--output", str(dump))
    call_command("flush", interactive=False, verbosity=0)  # the disaster: every row is gone
    assert not Order.objects.exists()
    assert not Payment.objects.exists()
    assert not Stock.objects.exists()
    target = fresh_instance.urls.direct_database_url
    started = time.perf_counter()
    call_command("db_restore", str(dump), "--database-url", target)
    restore_seconds = time.perf_counter() - started

    print(f"restored {dump.stat().st_size} bytes in {restore_seconds:.2f} s")
    assert figures_in(target) == before
    assert database_fingerprint(database_url=target) == fingerprint
    # The application finds its schema complete on the restored instance.
    env = {**os.environ, **fresh_instance.urls.environ()}
    check = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_restore_creates_a_missing_database_on_the_same_server(tmp_path) -> None:
    place_orders()
    source = os.environ[DIRECT_URL]
    dump = db_backup(database_url=source, output=tmp_path / "nested" / "shop.dump").path
    target = PostgresTarget.from_url(source).with_database("fashionistar_restore_check")
    target_url = f"{source.rsplit('/', 1)[0]}/{target.dbname}"
    try:
        call_command("db_restore", str(dump), "--database-url", target_url, "--jobs", "1")
        assert figures_in(target_url) == figures_in(source)
    finally:
        with target.with_database("postgres").connect() as admin:
            admin.execute('DROP DATABASE IF EXISTS "fashionistar_restore_check" WITH (FORCE)')


def test_a_restore_refuses_a_database_that_holds_tables(tmp_path) -> None:
    dump = db_backup(database_url=os.environ[DIRECT_URL], output=tmp_path / "shop.dump").path
    with pytest.raises(CommandError, match=r"already holds .* tables: restore into a fresh"):
        call_command("db_restore", str(dump), "--database-url", os.environ[DIRECT_URL])


def test_a_backup_needs_the_direct_url(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(DIRECT_URL)
    with pytest.raises(CommandError, match=r"set DATABASE_DIRECT_URL .*not PgBouncer"):
        call_command("db_backup", "--output", str(tmp_path / "x.dump"))


def test_a_failed_dump_leaves_no_file_and_says_why(tmp_path) -> None:
    output = tmp_path / "x.dump"
    with pytest.raises(CommandError, match="pg_dump failed"):
        call_command(
            "db_backup",
            "--output",
            str(output),
            "--database-url",
            "postgres://postgres@127.0.0.1:1/fashionistar",
        )
    assert list(tmp_path.iterdir()) == []


def test_a_restore_of_a_missing_file_or_with_no_jobs_is_refused(tmp_path) -> None:
    with pytest.raises(CommandError, match="no backup file"):
        call_command(
            "db_restore", str(tmp_path / "none.dump"), "--database-url", os.environ[DIRECT_URL]
        )
    dump = tmp_path / "empty.dump"
    dump.write_bytes(b"")
    with pytest.raises(CommandError, match="jobs must be 1 or more"):
        call_command(
            "db_restore", str(dump), "--database-url", os.environ[DIRECT_URL], "--jobs", "0"
        )


def test_the_password_stays_off_the_command_line() -> None:
    target = PostgresTarget.from_url("postgres://shop:s3cret@db.internal:5432/fashionistar")
    assert "s3cret" not in target.conninfo
    assert target.client_env()["PGPASSWORD"] == "s3cret"
    assert target.dbname == "fashionistar"
    for wrong in ("redis://localhost:6379/0", "postgres://shop@db:5432", "postgres://%zz@db/x"):
        with pytest.raises(BackupError, match="postgres://user@host:port/dbname"):
            PostgresTarget.from_url(wrong)


def test_client_programs_are_found_in_debians_versioned_folders_too(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(backup.shutil, "which", lambda name: None)
    for version in ("9", "15"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "pg_dump").touch()
    monkeypatch.setattr(backup, "DEBIAN_POSTGRES_BIN", tmp_path)
    assert backup.client_program("pg_dump") == str(tmp_path / "15" / "bin" / "pg_dump")
    with pytest.raises(BackupError, match="pg_restore is not installed"):
        backup.client_program("pg_restore")
