"""``manage.py load_demo``: load the demo data (safe to run again)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fashionistar.demo import DEMO_STOCK_PER_VARIANT, demo_load


class Command(BaseCommand):
    """Load the demo data."""

    help = "Load the demo data (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        """Add ``--stock``."""
        parser.add_argument("--stock", type=int, default=DEMO_STOCK_PER_VARIANT)

    def handle(self, *args: Any, **options: Any) -> None:
        """Load and report what was created."""
        created = demo_load(stock_per_variant=options["stock"])
        self.stdout.write(
            ", ".join(f"{count} {kind}" for kind, count in created.items()) + " created"
        )
