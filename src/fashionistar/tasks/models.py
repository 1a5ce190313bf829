"""The outbox: every task and event, written in the transaction that caused it."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxKind(models.TextChoices):
    """What an outbox entry carries."""

    TASK = "task", "Task"
    EVENT = "event", "Event"


# --8<-- [start:outbox_model]
class OutboxEntry(models.Model):
    """A task or an event that must not be lost once its transaction commits.

    A task's entry is deleted when the task succeeds, and marked failed when its last attempt
    fails; an event's entry is deleted once its handlers ran. Whatever is still there after a
    while is what Redis, a worker or a web process lost: the sweep sends it again.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    kind = models.CharField(max_length=8, choices=OutboxKind.choices)
    name = models.CharField(max_length=255, help_text="The task's import path or the event's name.")
    queue = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(help_text="Task: args, kwargs, run_after, context. Event: fields.")
    created_at = models.DateTimeField(default=timezone.now)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(failed_at__isnull=True), name="outbox_pending"
            )
        ]

    # --8<-- [end:outbox_model]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} {self.pk}"
