"""``manage.py run_worker [queue ...] [--kind fork|simple] [--processes N] [--burst] ...``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fashionistar.observability.metrics import serve_worker_metrics
from fashionistar.tasks.worker import (
    WORKER_CLASSES,
    serve_processes,
    serve_queues,
    task_queue_names,
)


class Command(BaseCommand):
    """Start RQ workers with their scheduler on some task queues (all by default)."""

    help = "Run task workers (RQ) with their scheduler; queues: all unless named."

    def add_arguments(self, parser: CommandParser) -> None:
        """Declare the options.

        Args:
            parser: The parser.
        """
        parser.add_argument("queues", nargs="*", help="emails, critical, analytics")
        parser.add_argument(
            "--kind",
            choices=sorted(WORKER_CLASSES),
            default="fork",
            help="fork: each task in a child forked for it; simple: in the worker's process",
        )
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="worker processes under this one, which starts a new one when one dies",
        )
        parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=settings.TASK_WORKER_METRICS_PORT,
            help="serve task durations for Prometheus on this port (0: off)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the workers until stopped (or, with ``--burst``, until the queues are empty).

        Args:
            *args: Unused.
            **options: The parsed options.

        Raises:
            CommandError: An unknown queue, a bad process count, or metrics that cannot be
                exported.
        """
        queues, kind, processes = options["queues"], options["kind"], options["processes"]
        unknown = set(queues) - set(task_queue_names())
        if unknown:
            raise CommandError(f"unknown queues {sorted(unknown)}; known: {task_queue_names()}")
        if processes < 1:
            raise CommandError("--processes takes 1 or more")
        if processes > 1 and options["burst"]:
            raise CommandError("--burst runs one process: drop --processes")
        if options["metrics_port"]:
            try:
                # A forking worker's tasks, or the workers under this process, run elsewhere.
                serve_worker_metrics(
                    port=options["metrics_port"], forking=kind == "fork" or processes > 1
                )
            except ImproperlyConfigured as error:
                raise CommandError(str(error)) from error
        if processes > 1:
            serve_processes(processes=processes, queues=queues, kind=kind)
        else:
            serve_queues(queues=queues, kind=kind, burst=options["burst"])
