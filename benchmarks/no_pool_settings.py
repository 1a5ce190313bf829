"""The shop's settings without Django's connection pool, for the connections benchmark.

``DJANGO_SETTINGS_MODULE=no_pool_settings`` (with ``benchmarks/`` on the path): each request
opens its own connection and closes it at its end (``CONN_MAX_AGE = 0``), which is what a
Django project does unless it asks for the pool. ``DATABASE_URL`` decides whether the
connections go to PostgreSQL itself or to PgBouncer.
"""

from fashionistar.project.settings import *  # noqa: F403
from fashionistar.project.settings import DATABASES

del DATABASES["default"]["OPTIONS"]["pool"]
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
