"""How long a backup and a restore take: the demo dataset, and a larger generated one.

    .venv/bin/python benchmarks/backup_restore.py [--orders 200000] [--markdown FILE] [--json FILE]

For each dataset: a throwaway native stack, migrated, with the data loaded; ``db_backup`` (the
code of ``manage.py db_backup``) dumps it straight from PostgreSQL; ``db_restore`` restores the
dump into a second, fresh native instance; the two databases' fingerprints (every row of every
table, every sequence) must match. Printed per dataset: rows, dump size, backup seconds, restore
seconds (``pg_restore`` and the ``ANALYZE`` after it). The stacks run with ``fsync=off`` (test
settings): a production disk is slower.

The generated dataset is written with SQL (``generate_series``) in a few seconds: users, a
catalog with four variants per product and their stock, and orders of two lines each.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from common import Watch, machine, prepared_stack

from fashionistar.ops.backup import database_fingerprint, db_backup, db_restore
from fashionistar_dev.stack import running_stack

GENERATE = [
    """INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email,
        is_staff, is_active, date_joined)
       SELECT '!', false, 'bench' || g, '', '', 'bench' || g || '@example.com', false, true, now()
       FROM generate_series(1, %(users)s) AS g""",
    """INSERT INTO catalog_category (name, slug)
       SELECT 'Bench ' || g, 'bench-' || g FROM generate_series(1, 20) AS g""",
    """INSERT INTO catalog_product (category_id, name, slug, description, price, currency,
        is_active, created_at, search_text)
       SELECT c.id, 'Bench product ' || g, 'bench-product-' || g, 'Generated for the benchmark.',
              10 + g %% 90, 'EUR', true, now(),
              'bench product ' || g || ' generated for the benchmark.'
       FROM generate_series(1, %(products)s) AS g
       JOIN catalog_category AS c ON c.slug = 'bench-' || (1 + g %% 20)""",
    """INSERT INTO catalog_variant (product_id, sku, size, colour)
       SELECT p.id, 'BENCH-' || p.id || '-' || s, s, 'black'
       FROM catalog_product AS p CROSS JOIN unnest(ARRAY['S', 'M', 'L', 'XL']) AS s
       WHERE p.slug LIKE 'bench-product-%%'""",
    """INSERT INTO inventory_stock (variant_id, quantity)
       SELECT id, 1000 FROM catalog_variant WHERE sku LIKE 'BENCH-%%'""",
    """INSERT INTO orders_order (user_id, status, currency, total, created_at, updated_at)
       SELECT u.id, 'paid', 'EUR', 2 * (10 + g %% 90), now(), now()
       FROM generate_series(1, %(orders)s) AS g
       JOIN accounts_user AS u ON u.username = 'bench' || (1 + g %% %(users)s)""",
    """INSERT INTO orders_orderline (order_id, variant_id, quantity, unit_price, line_total)
       SELECT o.id, v.id, 1, o.total / 2, o.total / 2
       FROM orders_order AS o
       CROSS JOIN generate_series(0, 1) AS line
       JOIN catalog_variant AS v
         ON v.sku = 'BENCH-' || (SELECT min(id) FROM catalog_product) + o.id %% %(products)s
                    || '-' || (ARRAY['S', 'M'])[line + 1]""",
]


def generate(database_url: str, *, orders: int, products: int, users: int) -> None:
    """Write the larger dataset straight into PostgreSQL.

    Args:
        database_url: The database, straight to PostgreSQL.
        orders: Orders (two lines each).
        products: Products (four variants each).
        users: Customers.
    """
    sizes = {"orders": orders, "products": products, "users": users}
    with psycopg.connect(database_url) as connection:
        for statement in GENERATE:
            connection.execute(statement, sizes)


def measure(name: str, database_url: str, work_dir: Path) -> dict[str, Any]:
    """Back a database up, restore it into a fresh instance, compare them.

    Args:
        name: The dataset's name.
        database_url: The database, straight to PostgreSQL.
        work_dir: Where the dump goes.

    Returns:
        The figures.
    """
    source = database_fingerprint(database_url=database_url)
    backup = db_backup(database_url=database_url, output=work_dir / f"{name}.dump")
    with running_stack(environ={"FASHIONISTAR_STACK": "native"}) as target:
        target_url = target.urls.direct_database_url
        assert target_url is not None
        restore = db_restore(dump=backup.path, database_url=target_url, jobs=2)
        identical = database_fingerprint(database_url=target_url) == source
    figures = {
        "dataset": name,
        "rows": sum(f.rows for table, f in source.items() if not table.startswith("sequence ")),
        "tables": restore.tables,
        "dump_bytes": backup.size_bytes,
        "backup_s": round(backup.seconds, 3),
        "restore_s": round(restore.seconds, 3),
        "analyze_s": round(restore.analyze_seconds, 3),
        "identical": identical,
    }
    print(
        f"{name}: {figures['rows']} rows in {figures['tables']} tables, dump "
        f"{backup.size_bytes / 1e6:.1f} MB; backup {backup.seconds:.2f} s, restore "
        f"{restore.seconds:.2f} s + ANALYZE {restore.analyze_seconds:.2f} s; identical: {identical}"
    )
    return figures


def markdown(results: list[dict[str, Any]], *, command: str, generated: str, taken_on: str) -> str:
    """Format the figures as the table ``docs/operations/backup-and-restore.md`` includes.

    Args:
        results: What :func:`measure` returned, per dataset.
        command: The command line that produced them.
        generated: What the generated dataset holds.
        taken_on: The first line (:meth:`common.Watch.taken_on`).

    Returns:
        When and where, a Markdown table, what the datasets hold, and the command.
    """
    lines = [
        taken_on,
        "",
        "| dataset | rows | dump | backup | restore | ANALYZE | identical |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r['dataset']} | {r['rows']:,} | {r['dump_bytes'] / 1e6:.1f} MB "
        f"| {r['backup_s']:.2f} s | {r['restore_s']:.2f} s | {r['analyze_s']:.2f} s "
        f"| {'yes' if r['identical'] else 'NO'} |"
        for r in results
    ]
    lines += [
        "",
        f"demo: `fashionistar_dev.demo.demo_load`; generated: {generated}. "
        f"Produced by `{command}` (`fsync=off`).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure both datasets and print (optionally write) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--products", type=int, default=5_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--markdown", type=Path, help="also write them as a Markdown table")
    options = parser.parse_args()
    watch = Watch()
    results = []
    with tempfile.TemporaryDirectory(prefix="backup-bench-") as work:
        with prepared_stack(demo_stock=25) as env:
            results.append(measure("demo", env["DATABASE_DIRECT_URL"], Path(work)))
        with prepared_stack() as env:
            generate(
                env["DATABASE_DIRECT_URL"],
                orders=options.orders,
                products=options.products,
                users=options.users,
            )
            results.append(measure("generated", env["DATABASE_DIRECT_URL"], Path(work)))
    if options.json:
        options.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
    if options.markdown:
        command = " ".join(["python benchmarks/backup_restore.py", *sys.argv[1:]])
        generated = (
            f"{options.orders:,} orders of two lines, {options.products:,} products of four "
            f"variants with their stock, {options.users:,} users"
        )
        options.markdown.write_text(
            markdown(results, command=command, generated=generated, taken_on=watch.taken_on())
        )


if __name__ == "__main__":
    main()
