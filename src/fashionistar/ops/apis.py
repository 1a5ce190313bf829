"""The task round trip over HTTP, for smoke tests of a running instance (staff only).

``POST echo-task`` enqueues :func:`fashionistar.tasks.probe.echo` on the ``critical`` queue and
answers ``202`` with the task's id; ``GET echo-task/<id>`` reads its result. A ``SUCCESSFUL``
status with the value sent proves the whole path: the outbox, Redis, a live worker, and the
result coming back. Staff only, so that nobody else can fill a queue; left out of the public
OpenAPI schema, like the admin.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.tasks import TaskResultStatus
from django.tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from fashionistar.kernel.apis.drf import validated
from fashionistar.kernel.apis.drf_view import ApiView
from fashionistar.kernel.errors import NotFound
from fashionistar.tasks.probe import echo

MAX_ECHO = 2**31 - 1


class EchoResultSerializer(serializers.Serializer[Any]):
    """Where the echo task is: its id, Django's status, its return value once it ran."""

    task_id = serializers.CharField(source="id")
    status = serializers.CharField()
    return_value = serializers.SerializerMethodField()

    def get_return_value(self, result: Any) -> int | None:
        """The value the task returned, or ``None`` before it succeeded.

        Args:
            result: The task's result.

        Returns:
            The value.
        """
        return int(result.return_value) if result.status == TaskResultStatus.SUCCESSFUL else None


# --8<-- [start:echo_api]
@extend_schema(exclude=True)
class EchoTaskApi(ApiView):
    """``POST echo-task``: ``{"value": 7}`` in, ``202`` with the task's id out."""

    permission_classes = (IsAdminUser,)

    class InputSerializer(serializers.Serializer[Any]):
        """The value the task must give back."""

        value = serializers.IntegerField(min_value=-MAX_ECHO, max_value=MAX_ECHO)

    def post(self, request: Request) -> Response:
        """Enqueue the echo task.

        Args:
            request: The request.

        Returns:
            ``202`` with ``{"task_id", "status", "return_value": null}``.
        """
        data = validated(self.InputSerializer(data=request.data))
        result = echo.enqueue(value=data["value"])
        return Response(EchoResultSerializer(result).data, status=202)


@extend_schema(exclude=True)
class EchoTaskResultApi(ApiView):
    """``GET echo-task/<id>``: the echo task's status and, once it ran, its value."""

    permission_classes = (IsAdminUser,)

    def get(self, request: Request, task_id: str) -> Response:
        """Read the result.

        The path takes any text, so that a client who is not staff is refused (401, 403)
        before the id is looked at; an id that is not a UUID is then a 404 like an unknown one.

        Args:
            request: The request.
            task_id: The id ``POST echo-task`` answered.

        Returns:
            ``{"task_id", "status", "return_value"}``.

        Raises:
            NotFound: No echo task has this id (or its result expired).
        """
        try:
            result = echo.get_result(str(UUID(task_id)))
        except (ValueError, TaskResultDoesNotExist, TaskResultMismatch):
            raise NotFound("No such echo task.", extra={"task_id": task_id[:64]}) from None
        return Response(EchoResultSerializer(result).data)


# --8<-- [end:echo_api]
