"""The observability app: counts queries, turns tracing on from the env, keeps records lean."""

from django.apps import AppConfig
from django.db.backends.signals import connection_created

from fashionistar.observability.logging import skip_unused_record_fields
from fashionistar.observability.metrics import install_query_counter
from fashionistar.observability.tracing import configure_from_env


class ObservabilityConfig(AppConfig):
    name = "fashionistar.observability"
    label = "observability"

    def ready(self) -> None:
        """Count every connection's queries; trace if an OTLP endpoint is configured; skip the
        record fields no log line shows.

        Runs before the first request, as Django's instrumentation edits ``MIDDLEWARE``.
        """
        connection_created.connect(install_query_counter, dispatch_uid="fashionistar.queries")
        configure_from_env()
        skip_unused_record_fields()
