"""ASGI entry point (the production server runs this)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fashionistar.settings")
application = get_asgi_application()
