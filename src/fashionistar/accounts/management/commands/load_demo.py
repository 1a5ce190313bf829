"""``manage.py load_demo``: load the demo data (safe to run again)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from fashionistar.demo import demo_load


class Command(BaseCommand):
    """Load the demo data."""

    help = "Load the demo data (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        """Load and report what was created."""
        created = demo_load()
        self.stdout.write(
            ", ".join(f"{count} {kind}" for kind, count in created.items()) + " created"
        )
