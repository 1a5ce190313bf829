"""URLs of the operations app, included under ``api/sync/ops/``."""

from __future__ import annotations

from django.urls import path

from fashionistar.ops.apis import EchoTaskApi, EchoTaskResultApi

app_name = "ops"

urlpatterns = [
    path("echo-task", EchoTaskApi.as_view(), name="echo-task"),
    path("echo-task/<str:task_id>", EchoTaskResultApi.as_view(), name="echo-task-result"),
]
