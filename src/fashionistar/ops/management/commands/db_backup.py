"""``manage.py db_backup [--output FILE] [--database-url URL]``: dump the database to one file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fashionistar.kernel.config import env_str
from fashionistar.ops.backup import BackupError, db_backup

DIRECT_URL_VARIABLE = "DATABASE_DIRECT_URL"


def direct_url(given: str | None) -> str:
    """Return the database URL a backup or restore uses: given, else ``DATABASE_DIRECT_URL``.

    Args:
        given: The ``--database-url`` option.

    Returns:
        The URL.

    Raises:
        CommandError: Neither is set.
    """
    url = given or env_str(DIRECT_URL_VARIABLE, default="")
    if not url:
        raise CommandError(
            f"set {DIRECT_URL_VARIABLE} (PostgreSQL itself, not PgBouncer) or pass --database-url"
        )
    return url


class Command(BaseCommand):
    """Back the database up with ``pg_dump --format=custom``."""

    help = "Dump the database (straight to PostgreSQL, not PgBouncer) to one pg_dump file."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the options.

        Args:
            parser: The parser.
        """
        parser.add_argument(
            "--output",
            type=Path,
            help="the file to write (default: fashionistar-<UTC time>.dump here)",
        )
        parser.add_argument("--database-url", help=f"default: ${DIRECT_URL_VARIABLE}")

    def handle(self, *args: Any, **options: Any) -> None:
        """Write the dump and say where, how big, how long.

        Args:
            *args: Unused.
            **options: The parsed options.

        Raises:
            CommandError: No URL, or ``pg_dump`` failed.
        """
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        output = options["output"] or Path(f"fashionistar-{stamp}.dump")
        try:
            result = db_backup(database_url=direct_url(options["database_url"]), output=output)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"backed up to {result.path} ({result.size_bytes} bytes) in {result.seconds:.2f} s"
        )
