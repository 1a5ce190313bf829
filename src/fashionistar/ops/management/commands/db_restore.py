"""``manage.py db_restore FILE --database-url URL [--jobs N]``: restore into a fresh database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fashionistar.ops.backup import BackupError, db_restore


class Command(BaseCommand):
    """Restore a ``db_backup`` file with ``pg_restore`` into a database that holds no table."""

    help = "Restore a db_backup file into a fresh database (created if missing), then ANALYZE."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the options.

        Args:
            parser: The parser.
        """
        parser.add_argument("dump", type=Path, help="the file db_backup wrote")
        parser.add_argument(
            "--database-url",
            required=True,
            help="the database to restore into, straight to PostgreSQL (created if missing)",
        )
        parser.add_argument("--jobs", type=int, default=2, help="parallel pg_restore jobs")

    def handle(self, *args: Any, **options: Any) -> None:
        """Restore and report what and how long.

        Args:
            *args: Unused.
            **options: The parsed options.

        Raises:
            CommandError: The file is missing, the target holds tables, or pg_restore failed.
        """
        try:
            result = db_restore(
                dump=options["dump"], database_url=options["database_url"], jobs=options["jobs"]
            )
        except BackupError as error:
            raise CommandError(str(error)) from error
        created = "created and " if result.created else ""
        self.stdout.write(
            f"{created}restored {result.tables} tables into {result.database} in "
            f"{result.seconds:.2f} s (ANALYZE {result.analyze_seconds:.2f} s)"
        )
