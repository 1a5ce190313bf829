"""The unique (user, key) index, built without locking out writes (``CONCURRENTLY``).

Django's ``AddConstraint`` would build it with a plain ``CREATE UNIQUE INDEX``, which blocks
every insert into the table until it is done. The constraint is a partial unique index in
PostgreSQL either way, so the state records the same ``UniqueConstraint`` the model declares.
"""

from django.db import migrations, models

INDEX = "order_idempotency_key_unique_per_user"


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("orders", "0003_order_idempotency_key")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'CREATE UNIQUE INDEX CONCURRENTLY "{INDEX}" ON "orders_order" '
                    "(\"user_id\", \"idempotency_key\") WHERE NOT (\"idempotency_key\" = '')",
                    reverse_sql=f'DROP INDEX CONCURRENTLY "{INDEX}"',
                )
            ],
            state_operations=[
                migrations.AddConstraint(
                    model_name="order",
                    constraint=models.UniqueConstraint(
                        condition=~models.Q(idempotency_key=""),
                        fields=("user", "idempotency_key"),
                        name=INDEX,
                    ),
                )
            ],
        )
    ]
