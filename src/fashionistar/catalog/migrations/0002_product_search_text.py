"""Expand: add ``Product.search_text`` as a nullable column.

Safe while the previous release still runs: its inserts leave the column NULL, and PostgreSQL
adds a nullable column without a default by changing the catalog only (no table rewrite). The
release that ships this migration writes the column for new products
(``catalog.services.product_create``); the task ``catalog_backfill_search_text`` fills the
existing rows in batches. ``0003`` then makes it NOT NULL (contract).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="search_text",
            field=models.TextField(editable=False, null=True),
        ),
    ]
