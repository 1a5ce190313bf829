"""Expand: two columns with a database default, so the release before keeps inserting orders."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0002_order_confirmation_sent_at")]

    operations = [
        migrations.AddField(
            model_name="order",
            name="idempotency_key",
            field=models.CharField(blank=True, db_default="", default="", max_length=255),
        ),
        migrations.AddField(
            model_name="order",
            name="request_fingerprint",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
    ]
