"""WSGI entry point, for a sync server; static files are answered in front of Django."""

import os
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.project.settings")
django.setup(set_prefix=False)  # what get_wsgi_application() does, before its handler

from fashionistar.kernel.middleware import WSGIHandler  # noqa: E402 - after setup

# Django's WSGIHandler, its chain built with the kernel's subclasses of Django's middleware.
application: Any = WSGIHandler()

from fashionistar.project.static import wsgi_with_static_files  # noqa: E402 - after setup

application = wsgi_with_static_files(application)

from fashionistar.project.heap import freeze_startup_heap  # noqa: E402 - after setup

freeze_startup_heap()  # the last thing the process does before it serves
