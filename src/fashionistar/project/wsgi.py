"""WSGI entry point, for a sync server; static files are answered in front of Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.project.settings")
application = get_wsgi_application()

from fashionistar.project.static import wsgi_with_static_files  # noqa: E402 - after setup

application = wsgi_with_static_files(application)
