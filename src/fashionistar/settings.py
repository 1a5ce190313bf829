"""Django settings, read from the environment.

Required: ``DATABASE_URL`` (PostgreSQL through PgBouncer), ``REDIS_URL`` and
``DJANGO_SECRET_KEY``. A missing or malformed value stops start-up with a message naming the
variable. ``fashionistar.stack`` produces the first two for tests, docs and ``make serve``.
"""

from __future__ import annotations

from pathlib import Path

from fashionistar.config import (
    database_from_env,
    env_bool,
    env_list,
    env_required,
    redis_url_from_env,
)

BASE_DIR = Path(__file__).resolve().parent

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
    "ninja",
    "fashionistar.accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "fashionistar.urls"
ASGI_APPLICATION = "fashionistar.asgi.application"
WSGI_APPLICATION = "fashionistar.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
DATABASES = {"default": database_from_env("DATABASE_URL")}
# --8<-- [end:databases]

REDIS_URL = redis_url_from_env("REDIS_URL")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR.parent.parent / "var" / "static"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
