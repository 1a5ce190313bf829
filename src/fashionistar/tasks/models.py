"""The outbox: every task, written in the transaction that caused it."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxKind(models.TextChoices):
    """What an outbox entry carries: a task (events run in their publisher's transaction)."""

    TASK = "task", "Task"


# --8<-- [start:outbox_model]
class OutboxEntry(models.Model):
    """A task that must not be lost once its transaction commits.

    Deleted when the task succeeds, marked failed when its last attempt fails. Whatever is still
    there after a while is what Redis, a worker or a web process lost: the sweep pushes it again.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    kind = models.CharField(max_length=8, choices=OutboxKind.choices, default=OutboxKind.TASK)
    name = models.CharField(max_length=255, help_text="The task's import path.")
    queue = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(help_text="args, kwargs, run_after, context.")
    created_at = models.DateTimeField(default=timezone.now)
    failed_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A sweep is looking at this entry until then."
    )

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"], condition=Q(failed_at__isnull=True), name="outbox_pending"
            )
        ]

    # --8<-- [end:outbox_model]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} {self.pk}"
