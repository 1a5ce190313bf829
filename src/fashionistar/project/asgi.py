"""ASGI entry point (the production server runs this).

Static files are answered in front of Django (:mod:`fashionistar.project.static`). With tracing on
(an OTLP endpoint in the environment), the application is wrapped in OpenTelemetry's ASGI
middleware: Django's own instrumentation makes no request span under ASGI. The wrapper's spans
for each ASGI message (``http receive``, ``http send``) are left out: they say when bytes moved,
and every request, sampled or not, would pay for making them.
"""

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.project.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does, before its handler

from fashionistar.kernel.middleware import ASGIHandler  # noqa: E402 - after setup

# Django's ASGIHandler, with Django's middleware run on the event loop where it does no I/O.
application: Any = ASGIHandler()

from fashionistar.observability.tracing import ENDPOINT_VARIABLES  # noqa: E402 - after setup
from fashionistar.project.static import asgi_with_static_files  # noqa: E402 - after setup

if any(os.environ.get(name) for name in ENDPOINT_VARIABLES):
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    application = OpenTelemetryMiddleware(application, exclude_spans=["receive", "send"])

application = asgi_with_static_files(application)
