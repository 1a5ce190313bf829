"""``manage.py run_worker [queue ...] [--kind fork|simple] [--burst] [--metrics-port N]``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fashionistar.observability.metrics import serve_worker_metrics
from fashionistar.tasks.worker import WORKER_CLASSES, serve_queues, task_queue_names


class Command(BaseCommand):
    """Start an RQ worker with its scheduler on some task queues (all by default)."""

    help = "Run a task worker (RQ) with its scheduler; queues: all unless named."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the options.

        Args:
            parser: The parser.
        """
        parser.add_argument("queues", nargs="*", help="emails, critical, analytics")
        parser.add_argument("--kind", choices=sorted(WORKER_CLASSES), default="fork")
        parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.TASK_WORKER_METRICS_PORT,
            help="serve task durations for Prometheus on this port (0: off)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the worker until stopped (or, with ``--burst``, until the queues are empty).

        Args:
            *args: Unused.
            **options: The parsed options.

        Raises:
            CommandError: An unknown queue, or metrics that cannot be exported.
        """
        unknown = set(options["queues"]) - set(task_queue_names())
        if unknown:
            raise CommandError(f"unknown queues {sorted(unknown)}; known: {task_queue_names()}")
        if options["metrics_port"]:
            try:
                serve_worker_metrics(
                    port=options["metrics_port"], forking=options["kind"] == "fork"
                )
            except ImproperlyConfigured as error:
                raise CommandError(str(error)) from error
        serve_queues(queues=options["queues"], kind=options["kind"], burst=options["burst"])
