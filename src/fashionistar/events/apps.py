from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string


class EventsConfig(AppConfig):
    name = "fashionistar.events"
    verbose_name = "Domain events"

    def ready(self) -> None:
        # The registry imports the domains' tasks: connected here, once every app is loaded,
        # by name, as ROOT_URLCONF is.
        from fashionistar.events.bus import connect
        from fashionistar.events.checks import check_handler_loops

        connect(import_string(settings.EVENT_HANDLERS))
        checks.register(check_handler_loops)
