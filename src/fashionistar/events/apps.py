from django.apps import AppConfig
from django.core import checks


class EventsConfig(AppConfig):
    name = "fashionistar.events"
    verbose_name = "Domain events"

    def ready(self) -> None:
        from fashionistar.events.checks import check_handler_loops

        checks.register(check_handler_loops)
