"""``manage.py migrate_roundtrip --destroy-data``: every migration down to zero and up again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.db.migrations.exceptions import IrreversibleError

from fashionistar.ops.roundtrip import MigrationCheckError, migrate_roundtrip


class Command(BaseCommand):
    """Prove every migration reversible on a database made for it (it drops every table)."""

    help = (
        "Apply every migration, unapply them all (every app to zero), apply them again. "
        "Drops every table: for CI and throwaway databases only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the options.

        Args:
            parser: The parser.
        """
        parser.add_argument(
            "--destroy-data",
            action="store_true",
            help="required: say that this database's tables and rows may be dropped",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the round trip and report it.

        Args:
            *args: Unused.
            **options: The parsed options.

        Raises:
            CommandError: ``--destroy-data`` is missing, or a migration does not reverse.
        """
        if not options["destroy_data"]:
            raise CommandError(
                "this drops every table: pass --destroy-data on a throwaway database"
            )
        try:
            trip = migrate_roundtrip()
        except (MigrationCheckError, IrreversibleError, DatabaseError) as error:
            raise CommandError(f"the round trip failed: {error}") from error
        self.stdout.write(
            f"{trip.apps} apps: unapplied {trip.unapplied} migrations in "
            f"{trip.backward_seconds:.2f} s, applied {trip.reapplied} again in "
            f"{trip.forward_seconds:.2f} s"
        )
