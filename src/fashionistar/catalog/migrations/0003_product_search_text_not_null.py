"""Contract: make ``Product.search_text`` NOT NULL, without locking the table for a scan.

Deployed in the release *after* the one that writes the column and runs the backfill task, so
every running process already writes it. Steps, each committed on its own (``atomic = False``):

1. fill the rows the backfill task has not reached yet, in batches (a safety net: normally
   there are none);
2. add ``CHECK (search_text IS NOT NULL) NOT VALID``: instant, new writes are checked at once;
3. ``VALIDATE CONSTRAINT``: scans the table under a lock that lets reads and writes go on;
4. ``SET NOT NULL``: PostgreSQL 12+ sees the valid check and skips its own full-table scan, so
   the exclusive lock is held only for an instant;
5. drop the check, now redundant.

Every step has its reverse, so the migration can be rolled back (``migrate catalog 0002``).
"""

from django.db import migrations, models

CHECK = "catalog_product_search_text_not_null"
BATCH = 500


def fill_missing(apps, schema_editor):
    """The backfill, frozen here as the code was when this migration was written."""
    product_model = apps.get_model("catalog", "Product")
    products = product_model.objects.using(schema_editor.connection.alias)
    while batch := list(products.filter(search_text__isnull=True).order_by("pk")[:BATCH]):
        for product in batch:
            product.search_text = " ".join(f"{product.name} {product.description}".split()).casefold()
        products.bulk_update(batch, ["search_text"])


class Migration(migrations.Migration):

    atomic = False

    dependencies = [
        ("catalog", "0002_product_search_text"),
    ]

    operations = [
        migrations.RunPython(fill_missing, migrations.RunPython.noop),
        migrations.RunSQL(
            sql=f"ALTER TABLE catalog_product ADD CONSTRAINT {CHECK} CHECK (search_text IS NOT NULL) NOT VALID",
            reverse_sql=f"ALTER TABLE catalog_product DROP CONSTRAINT {CHECK}",
        ),
        migrations.RunSQL(
            sql=f"ALTER TABLE catalog_product VALIDATE CONSTRAINT {CHECK}",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="product",
            name="search_text",
            field=models.TextField(editable=False),
        ),
        migrations.RunSQL(
            sql=f"ALTER TABLE catalog_product DROP CONSTRAINT {CHECK}",
            reverse_sql=f"ALTER TABLE catalog_product ADD CONSTRAINT {CHECK} CHECK (search_text IS NOT NULL) NOT VALID",
        ),
    ]
