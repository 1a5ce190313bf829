"""Read settings from the environment; fail at start with the variable's name when one is wrong."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix"})


def env_required(name: str) -> str:
    """Return a variable that must be set and not empty.

    Args:
        name: The variable.

    Returns:
        Its value.

    Raises:
        ImproperlyConfigured: It is missing or empty.
    """
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} is not set: the application cannot start without it")
    return value


def parse_rate(rate: str) -> tuple[int, int]:
    """Parse a throttle rate such as ``"100/minute"``.

    Args:
        rate: ``<requests>/<second|minute|hour|day>`` (only the first letter of the period counts,
            as in DRF).

    Returns:
        ``(requests, window in seconds)``.

    Raises:
        ValueError: Not a rate.
    """
    count, _, period = rate.partition("/")
    periods = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if period[:1] not in periods or not count.isdigit() or int(count) < 1:
        raise ValueError(f"Not a throttle rate: {rate!r}")
    return int(count), periods[period[:1]]


def env_rate(name: str, *, default: str) -> str:
    """Read a throttle rate, checked now: a typo stops the start, not every request later.

    Args:
        name: The variable.
        default: The rate when it is not set or empty.

    Returns:
        The rate, as :func:`parse_rate` reads it.

    Raises:
        ImproperlyConfigured: It is not a rate.
    """
    rate = env_str(name, default=default)
    try:
        parse_rate(rate)
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} must be like 100/minute, got {rate!r}") from error
    return rate


def env_str(name: str, *, default: str) -> str:
    """Read an optional variable.

    Args:
        name: The variable.
        default: The value when it is not set or empty.

    Returns:
        The value, stripped of surrounding blanks.
    """
    return os.environ.get(name, "").strip() or default


def env_bool(name: str, *, default: bool) -> bool:
    """Read a yes/no variable.

    Args:
        name: The variable.
        default: The value when it is not set.

    Returns:
        The value.

    Raises:
        ImproperlyConfigured: It is set to something that is not a yes or a no.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_list(name: str, *, default: list[str]) -> list[str]:
    """Read a comma-separated variable.

    Args:
        name: The variable.
        default: The value when it is not set.

    Returns:
        The non-empty items.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_logins(name: str) -> list[tuple[str, str]]:
    """Read ``user:password`` pairs, comma-separated.

    Args:
        name: The variable.

    Returns:
        The pairs; none when the variable is not set.

    Raises:
        ImproperlyConfigured: An item is not ``user:password``.
    """
    logins = []
    for item in env_list(name, default=[]):
        username, separator, password = item.partition(":")
        if not separator or not username or not password:
            raise ImproperlyConfigured(f"{name} must be user:password,..., got {item!r}")
        logins.append((username, password))
    return logins


# --8<-- [start:database_from_env]
def database_from_env(name: str, *, pool_size: int = 8) -> dict[str, Any]:
    """Build the ``default`` database from a ``postgres://`` URL that points at PgBouncer.

    Transaction pooling hands a server connection to a client for one transaction only, so
    nothing may outlive a transaction on the server: no server-side cursors (Django's
    ``.iterator()`` uses them) and no server-side prepared statements (Django leaves psycopg's
    ``prepare_threshold`` at ``None``; ``server_side_binding`` stays off).

    Each process keeps its connections to PgBouncer in Django's pool (psycopg_pool): a request
    borrows one instead of opening one. PgBouncer still caps what PostgreSQL sees for the whole
    fleet. A pooled connection is checked before it is lent, so one that PgBouncer closed
    meanwhile is replaced, not handed to a request.

    Args:
        name: The variable holding the URL.
        pool_size: The most connections one process keeps open (and may have in use at once).

    Returns:
        A ``DATABASES`` entry.

    Raises:
        ImproperlyConfigured: The variable is missing or not a PostgreSQL URL.
    """
    url = env_required(name)
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=0))
    except ValueError as error:
        raise ImproperlyConfigured(f"{name} is not a database URL: {error}") from error
    if config["ENGINE"] != "django.db.backends.postgresql" or not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} must be postgres://user@host:port/dbname, got {url!r}")
    config["DISABLE_SERVER_SIDE_CURSORS"] = True
    config["CONN_HEALTH_CHECKS"] = (
        True  # with a pool: psycopg checks a connection before lending it
    )
    options = config.setdefault("OPTIONS", {})
    options["connect_timeout"] = 5
    options["pool"] = {
        "min_size": 1,
        "max_size": pool_size,
        # How long a request waits for a connection before its 503 when PgBouncer is down.
        "timeout": 2,
        # A failed connect is retried for 2 s, then the next request tries at once: without
        # this, psycopg_pool backs off up to minutes and keeps answering 503 after a recovery.
        "reconnect_timeout": 2,
    }
    return config


# --8<-- [end:database_from_env]


def redis_url_from_env(name: str) -> str:
    """Read a Redis URL.

    Args:
        name: The variable holding the URL.

    Returns:
        The URL.

    Raises:
        ImproperlyConfigured: It is missing or not a ``redis://``, ``rediss://`` or ``unix://`` URL.
    """
    url = env_required(name)
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES or not (parts.hostname or parts.path):
        raise ImproperlyConfigured(f"{name} must be redis://host:port/db, got {url!r}")
    return url
