"""ASGI entry point (the production server runs this).

Static files are answered in front of Django (:mod:`fashionistar.project.static`). With tracing on
(an OTLP endpoint in the environment), the request's span is the shop's tracing middleware's
(:mod:`fashionistar.observability.request_spans`), under ASGI as under WSGI. The application is
not also wrapped in ``opentelemetry-instrumentation-asgi``'s ASGI middleware, which would make a
second span for the same request and collect its attributes again, for every request, sampled
or not.
"""

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.project.settings")
django.setup(set_prefix=False)  # what get_asgi_application() does, before its handler

from fashionistar.kernel.middleware import ASGIHandler  # noqa: E402 - after setup

# Django's ASGIHandler, with Django's middleware run on the event loop where it does no I/O.
application: Any = ASGIHandler()

from fashionistar.project.static import asgi_with_static_files  # noqa: E402 - after setup

application = asgi_with_static_files(application)

from fashionistar.project.heap import freeze_startup_heap  # noqa: E402 - after setup

freeze_startup_heap()  # the last thing the process does before it serves
