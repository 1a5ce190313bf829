"""Django settings, read from the environment.

Required: ``DATABASE_URL`` (PostgreSQL through PgBouncer), ``REDIS_URL`` and
``DJANGO_SECRET_KEY``. A missing or malformed value stops start-up with a message naming the
variable. ``fashionistar_dev.stack`` produces the first two for tests, docs and ``make serve``.
"""

from __future__ import annotations

import os
from pathlib import Path

from fashionistar.kernel.config import (
    database_from_env,
    env_bool,
    env_list,
    env_logins,
    env_rate,
    env_required,
    env_str,
    redis_url_from_env,
)
from fashionistar.observability.logging import log_level_from_env, logging_config

BASE_DIR = Path(__file__).resolve().parents[1]  # the package: its templates/ and static/

SECRET_KEY = env_required("DJANGO_SECRET_KEY")
DEBUG = env_bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "ninja",
    "fashionistar.accounts",
    "fashionistar.catalog",
    "fashionistar.inventory",
    "fashionistar.orders",
    "fashionistar.payments",
    "fashionistar.audit",
    "fashionistar.tasks",
    "fashionistar.events",
    "fashionistar.analytics",
    "fashionistar.ops",
    "fashionistar.observability",
]

# --8<-- [start:middleware]
MIDDLEWARE = [
    # First: every line logged during the request carries its id; its latency covers the rest.
    "fashionistar.observability.middleware.RequestIdMiddleware",
    "fashionistar.observability.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Adds the header only when SECURE_CSP is set (settings_production sets it).
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "fashionistar.audit.middleware.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# JSON lines with ECS field names on stdout, written by a background thread.
LOGGING = logging_config(level=log_level_from_env("LOG_LEVEL", default="INFO"))
# --8<-- [end:middleware]

ROOT_URLCONF = "fashionistar.project.urls"
ASGI_APPLICATION = "fashionistar.project.asgi.application"
WSGI_APPLICATION = "fashionistar.project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --8<-- [start:databases]
DATABASES = {
    "default": database_from_env(
        "DATABASE_URL", pool_size=int(os.environ.get("DATABASE_POOL_SIZE", "8"))
    )
}
# --8<-- [end:databases]

REDIS_URL = redis_url_from_env("REDIS_URL")
PAYMENT_GATEWAY_URL = env_str("PAYMENT_GATEWAY_URL", default="")
# The partners that checkout asks over HTTP; the fake gateway serves them too by default.
SHIPPING_SERVICE_URL = env_str("SHIPPING_SERVICE_URL", default=PAYMENT_GATEWAY_URL)
FRAUD_SERVICE_URL = env_str("FRAUD_SERVICE_URL", default=PAYMENT_GATEWAY_URL)
# With Sentinels ("host:port,..."), every Redis client (cache, queues, throttle) asks them for
# the master and follows a failover; REDIS_URL is then only the first master's address.
REDIS_SENTINELS = env_list("REDIS_SENTINELS", default=[])
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER", default="fashionistar")
CACHES = {
    "default": {
        # fashionistar.kernel.redis_client.RedisCache, counting hits and misses for /metrics.
        "BACKEND": "fashionistar.observability.cache.MeteredRedisCache",
        "LOCATION": REDIS_URL,
    }
}

# The catalog's answers (list pages, product details) are cached this long at most; a write to a
# product, variant, category or stock row through the ORM makes them stale at once, while an
# order's stock change (an UPDATE) shows after this long. 0 turns the cache off: every answer is
# built from the database, and Redis is not asked.
CATALOG_CACHE_S = float(os.environ.get("CATALOG_CACHE_S", "10"))

# --8<-- [start:tasks_settings]
_RETRY_INTERVAL_S = os.environ.get("TASKS_RETRY_INTERVAL_S", "")
TASKS = {
    "default": {
        "BACKEND": "fashionistar.tasks.backend.RQTaskBackend",
        "QUEUES": ["emails", "critical", "analytics"],
        "OPTIONS": {
            # Retries after the first attempt, and seconds before each (RQ's scheduler waits).
            # TASKS_RETRY_INTERVAL_S (fault drills, tests) sets one short interval for all.
            "RETRY": {
                queue: {
                    "max": 3,
                    "intervals": [int(_RETRY_INTERVAL_S)] if _RETRY_INTERVAL_S else gaps,
                }
                for queue, gaps in {
                    "emails": [10, 60, 300],
                    "critical": [1, 2, 4],
                    "analytics": [5, 30, 120],
                }.items()
            },
            "JOB_TIMEOUT_S": 60,
            # A pending outbox entry older than this is checked against Redis by the sweep.
            "SWEEP_AFTER_S": float(os.environ.get("TASKS_SWEEP_AFTER_S", "30")),
        },
    }
}
_MAINTENANCE_S = int(os.environ.get("TASK_WORKER_MAINTENANCE_S", "10"))
TASK_WORKER = {
    # Registry clean-up, scheduler take-over and the outbox sweep run this often...
    "maintenance_interval": _MAINTENANCE_S,
    # ...also when idle: RQ waits on an empty queue for worker_ttl - 15 s between passes.
    "worker_ttl": _MAINTENANCE_S + 15,
    "job_monitoring_interval": int(os.environ.get("TASK_WORKER_MONITORING_S", "5")),
}
# run_worker serves its task durations for Prometheus on this port (0: off).
TASK_WORKER_METRICS_PORT = int(os.environ.get("TASK_WORKER_METRICS_PORT", "0"))
# /healthz/tasks answers 503 when a queue's oldest waiting job is older than this.
TASK_HEALTH_MAX_WAIT_S = float(os.environ.get("TASK_HEALTH_MAX_WAIT_S", "300"))
# RQ logs three lines per task at INFO and Django's task signals two (django.tasks): WARNING
# keeps retries, failures and restarts only.
TASK_WORKER_LOG_LEVEL = os.environ.get("TASK_WORKER_LOG_LEVEL", os.environ.get("LOG_LEVEL", "INFO"))
# --8<-- [end:tasks_settings]

# The handlers of each domain event (EventsConfig.ready() connects them to the bus).
EVENT_HANDLERS = "fashionistar.project.handlers.HANDLERS"

# A placed order waits this long for its payment before the critical queue cancels it.
ORDER_PAYMENT_WINDOW_S = int(os.environ.get("ORDER_PAYMENT_WINDOW_S", "1800"))

# "default" enqueues each mail on the emails queue; the worker delivers it through "smtp".
MAILERS = {
    "default": {"BACKEND": "fashionistar.tasks.email.TaskEmailBackend"},
    "smtp": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": env_str("EMAIL_HOST", default="localhost"),
            "port": int(os.environ.get("EMAIL_PORT", "1025")),
            "timeout": 10,
        },
    },
}
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="shop@fashionistar.example")

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --8<-- [start:static]
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic copies every app's files here; the ASGI and WSGI entry points serve them
# (fashionistar.project.static), so the admin and both API docs pages need no other server or CDN.
STATIC_ROOT = Path(
    env_str("DJANGO_STATIC_ROOT", default=str(BASE_DIR.parent.parent / "var" / "static"))
)
# --8<-- [end:static]

# The home page links the docs site when its address is known (make serve sets it), and shows
# demo logins only when a local demo sets them: never in production.
DOCS_SITE_URL = env_str("DOCS_SITE_URL", default="")
DEMO_LOGINS = env_logins("FASHIONISTAR_DEMO_LOGINS")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --8<-- [start:api_settings]
# Bodies above this size answer 413 in both APIs: both read the body through request.body,
# where Django checks it (DRF 3.18's JSON parser does too).
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

# Requests per client and window, for both APIs: "anon" by IP, "user" by user id.
API_THROTTLE_RATES = {
    "anon": env_rate("API_THROTTLE_ANON", default="1000/minute"),
    "user": env_rate("API_THROTTLE_USER", default="2000/minute"),
}

# Trust X-Forwarded-For for the client IP (audit log, anonymous throttling) only behind a proxy
# that sets it.
TRUST_X_FORWARDED_FOR = env_bool("DJANGO_TRUST_X_FORWARDED_FOR", default=False)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: its WWW-Authenticate header makes "not authenticated" a 401, not a 403.
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["fashionistar.kernel.apis.drf.RateThrottle"],
    "EXCEPTION_HANDLER": "fashionistar.project.api.drf_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fashionistar sync API (DRF)",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
# --8<-- [end:api_settings]
