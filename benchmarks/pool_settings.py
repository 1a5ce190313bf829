"""The shop's settings with Django's own connection pool, for the connections benchmark.

``DJANGO_SETTINGS_MODULE=pool_settings`` (with ``benchmarks/`` on the path). The pool is per
process and needs ``CONN_MAX_AGE = 0``, which the shop already sets. ``DATABASE_URL`` decides
whether the pool holds connections to PostgreSQL itself or to PgBouncer.
"""

from fashionistar.project.settings import *  # noqa: F403
from fashionistar.project.settings import DATABASES

POOL_SIZE = {"min_size": 2, "max_size": 20, "timeout": 10}
"""Per worker process: at most 20 connections; a request waits up to 10 s for one."""

DATABASES["default"]["OPTIONS"]["pool"] = POOL_SIZE
