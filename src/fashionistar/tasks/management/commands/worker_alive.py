"""``manage.py worker_alive``: exit 0 when a task worker of this host is registered in Redis."""

from __future__ import annotations

import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from fashionistar.tasks.monitoring import workers_on


class Command(BaseCommand):
    """A liveness probe for a worker container (Kubernetes ``exec`` probe)."""

    help = "Exit 0 if a task worker of this host is registered in Redis, 1 otherwise."

    def handle(self, *args: Any, **options: Any) -> None:
        """Check this host's workers.

        Args:
            *args: Unused.
            **options: Unused.

        Raises:
            CommandError: No live worker on this host.
        """
        host = socket.gethostname()
        count = workers_on(host)
        if not count:
            raise CommandError(f"no live task worker on {host}")
        self.stdout.write(f"{count} task worker(s) alive on {host}")
