"""Settings from the environment: a wrong or missing value stops start-up and names itself."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from fashionistar.kernel import config


def test_database_url_becomes_a_pgbouncer_safe_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://shop@bouncer:6432/fashionistar")
    entry = config.database_from_env("DATABASE_URL")
    assert entry["ENGINE"] == "django.db.backends.postgresql"
    assert (entry["HOST"], entry["PORT"], entry["NAME"]) == ("bouncer", 6432, "fashionistar")
    assert entry["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert entry["CONN_MAX_AGE"] == 0  # Django's pool needs it
    assert entry["OPTIONS"]["pool"]["max_size"] == 8
    assert entry["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize(
    ("name", "value", "reader", "message"),
    [
        ("DATABASE_URL", "", config.database_from_env, "DATABASE_URL is not set"),
        (
            "DATABASE_URL",
            "mysql://u@h/db",
            config.database_from_env,
            "DATABASE_URL must be postgres",
        ),
        (
            "DATABASE_URL",
            "nonsense://x",
            config.database_from_env,
            "DATABASE_URL is not a database URL",
        ),
        ("REDIS_URL", "http://cache:6379", config.redis_url_from_env, "REDIS_URL must be redis://"),
    ],
)
def test_bad_urls_name_their_variable(monkeypatch, name, value, reader, message) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader(name)


def test_booleans_lists_and_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "Yes")
    assert config.env_bool("FLAG", default=False) is True
    monkeypatch.setenv("FLAG", "off")
    assert config.env_bool("FLAG", default=True) is False
    monkeypatch.delenv("FLAG")
    assert config.env_bool("FLAG", default=True) is True
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG='maybe' is not a boolean"):
        config.env_bool("FLAG", default=False)
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert config.env_list("HOSTS", default=[]) == ["a.example", "b.example"]
    assert config.env_list("NOT_SET_ANYWHERE", default=["x"]) == ["x"]
    monkeypatch.setenv("URL", "  http://gateway:8090 ")
    assert config.env_str("URL", default="") == "http://gateway:8090"
    monkeypatch.setenv("URL", " ")
    assert config.env_str("URL", default="fallback") == "fallback"


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY"])
def test_the_app_refuses_to_start_without_a_required_variable(missing: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != missing}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


@pytest.mark.parametrize("rate", ["1000 per minute", "1000", "0/minute"])
def test_a_throttle_rate_that_is_not_one_stops_the_start(rate: str) -> None:
    env = {**os.environ, "API_THROTTLE_USER": rate}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert f"API_THROTTLE_USER must be like 100/minute, got {rate!r}" in result.stderr


def test_a_throttle_rate_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_THROTTLE_ANON", " 30/hour ")
    assert config.env_rate("API_THROTTLE_ANON", default="1/s") == "30/hour"
    monkeypatch.delenv("API_THROTTLE_ANON")
    assert config.env_rate("API_THROTTLE_ANON", default="1/s") == "1/s"
