"""Fixtures for the task tests: a clean Redis, short retries, a real SMTP server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def fast_retries(settings, clean_redis) -> dict[str, Any]:
    """Retries after 0 s, so a burst worker runs every attempt at once."""
    tasks = {**settings.TASKS["default"]}
    tasks["OPTIONS"] = {
        **tasks["OPTIONS"],
        "RETRY": {queue: {"max": 3, "intervals": [0]} for queue in tasks["QUEUES"]},
        "SWEEP_AFTER_S": 0,
    }
    settings.TASKS = {"default": tasks}
    return tasks


@pytest.fixture
def mailbox(settings) -> Iterator[list[Any]]:
    """A real SMTP server (aiosmtpd) on a free port; the list fills with what it receives."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    from fashionistar_dev.stack.native import free_port

    received: list[Any] = []

    class Collect(Message):
        def handle_message(self, message: Any) -> None:
            received.append(message)

    smtp_log = logging.getLogger("mail.log")  # a line per SMTP command, late, from its thread
    level = smtp_log.level
    smtp_log.setLevel(logging.WARNING)
    controller = Controller(Collect(), hostname="127.0.0.1", port=free_port())
    controller.start()
    # Django's test set-up swaps every mailer for the in-memory one: put the real ones back.
    settings.MAILERS = {
        "default": {"BACKEND": "fashionistar.tasks.email.TaskEmailBackend"},
        "smtp": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": controller.port, "timeout": 5},
        },
    }
    yield received
    controller.stop()
    smtp_log.setLevel(level)
