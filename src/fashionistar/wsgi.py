"""WSGI entry point, for a sync server."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.settings")
application = get_wsgi_application()
