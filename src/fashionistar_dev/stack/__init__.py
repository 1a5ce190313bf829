"""The service stack: PostgreSQL behind PgBouncer (transaction pooling) and Redis.

One module serves the tests, the executed docs and ``make serve``. It picks a provider:

1. ``env``: URLs given in the environment (``DATABASE_URL`` and ``REDIS_URL``), for CI systems
   that provide service containers. Nothing is started or stopped.
2. ``native``: ``initdb``/``postgres``, ``pgbouncer`` and ``redis-server`` started in a directory
   of their own on free loopback ports, plus the fake card gateway
   (``fashionistar_dev.partners``).

``FASHIONISTAR_STACK`` (``env``, ``containers`` or ``native``) forces one. ``containers``
(testcontainers, for a machine with a Docker engine) is only ever chosen that way: it has never
run on the machines this project is tested on.

``FASHIONISTAR_REDIS_HA=1`` (or ``redis_ha=True``) asks for Redis in its high-availability
profile: a master, a replica and three Sentinels (:mod:`fashionistar_dev.stack.redis_ha`), natively.
The stack then also exports ``REDIS_SENTINELS`` and ``REDIS_SENTINEL_MASTER``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fashionistar_dev.stack.types import RunningStack, StackError, StackUrls

__all__ = ["RunningStack", "StackError", "StackUrls", "running_stack", "start_stack"]

PROVIDERS = ("env", "containers", "native")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


@dataclass
class EnvStack:
    """Services somebody else runs, found through environment variables."""

    urls: StackUrls
    provider: str = "env"

    @classmethod
    def from_environ(cls, environ: dict[str, str] | os._Environ[str]) -> EnvStack:
        """Read the stack's URLs from the environment.

        Args:
            environ: The environment to read.

        Returns:
            The stack.

        Raises:
            StackError: ``DATABASE_URL`` or ``REDIS_URL`` is missing.
        """
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not environ.get(name)]
        if missing:
            raise StackError(f"FASHIONISTAR_STACK=env needs {' and '.join(missing)} to be set")
        sentinels = tuple(
            item.strip() for item in environ.get("REDIS_SENTINELS", "").split(",") if item.strip()
        )
        return cls(
            urls=StackUrls(
                database_url=environ["DATABASE_URL"],
                redis_url=environ["REDIS_URL"],
                direct_database_url=environ.get("DATABASE_DIRECT_URL"),
                pgbouncer_admin_url=environ.get("PGBOUNCER_ADMIN_URL"),
                payment_gateway_url=environ.get("PAYMENT_GATEWAY_URL"),
                redis_sentinels=sentinels,
                redis_sentinel_master=environ.get("REDIS_SENTINEL_MASTER") or None,
            )
        )

    def stop(self) -> None:
        """Nothing to stop: the services belong to somebody else."""


def choose_provider(environ: dict[str, str] | os._Environ[str]) -> str:
    """Pick the provider: forced by ``FASHIONISTAR_STACK``, else the first that fits.

    Args:
        environ: The environment to read.

    Returns:
        ``env``, ``containers`` or ``native``.

    Raises:
        StackError: ``FASHIONISTAR_STACK`` names no provider.
    """
    forced = environ.get("FASHIONISTAR_STACK", "")
    if forced:
        if forced not in PROVIDERS:
            raise StackError(f"FASHIONISTAR_STACK={forced!r} is not one of {', '.join(PROVIDERS)}")
        return forced
    if environ.get("DATABASE_URL") and environ.get("REDIS_URL"):
        return "env"
    return "native"


def wants_redis_ha(environ: dict[str, str] | os._Environ[str]) -> bool:
    """Read ``FASHIONISTAR_REDIS_HA``.

    Args:
        environ: The environment to read.

    Returns:
        Whether the Redis HA profile is asked for.

    Raises:
        StackError: The value is not a yes or a no.
    """
    raw = environ.get("FASHIONISTAR_REDIS_HA", "")
    word = raw.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        raise StackError(f"FASHIONISTAR_REDIS_HA={raw!r} is not a boolean (use 1/0, yes/no)")
    return word in TRUE_WORDS


def start_stack(
    *,
    data_dir: Path | None = None,
    environ: dict[str, str] | None = None,
    redis_ha: bool | None = None,
) -> RunningStack:
    """Start (or find) PostgreSQL, PgBouncer and Redis.

    Args:
        data_dir: Keep the data here and reuse it on the next start (``make serve``);
            ``None`` makes a throwaway stack in a temporary directory.
        environ: The environment to read; ``os.environ`` by default.
        redis_ha: Redis as a master, a replica and three Sentinels; ``None`` reads
            ``FASHIONISTAR_REDIS_HA``.

    Returns:
        The running stack; call ``stop()`` when done, or use :func:`running_stack`.

    Raises:
        StackError: The HA profile or kept data is asked of a provider that cannot give it.
    """
    env = os.environ if environ is None else environ
    provider = choose_provider(env)
    ha = wants_redis_ha(env) if redis_ha is None else redis_ha
    if provider == "env":
        stack = EnvStack.from_environ(env)
        if ha and not stack.urls.redis_sentinels:
            raise StackError(
                "the Redis HA profile with FASHIONISTAR_STACK=env needs REDIS_SENTINELS "
                "and REDIS_SENTINEL_MASTER to be set"
            )
        return stack
    if provider == "containers":
        if ha or data_dir is not None:
            raise StackError(
                "FASHIONISTAR_STACK=containers makes a throwaway stack with one Redis: for the "
                "Redis HA profile or data kept between runs (make serve), use native"
            )
        from fashionistar_dev.stack.containers import ContainerStack  # pragma: no cover - Docker

        return ContainerStack.start()  # pragma: no cover - needs a Docker engine, none here
    from fashionistar_dev.stack.native import NativeStack

    return NativeStack.start(data_dir=data_dir, redis_ha=ha)


@contextmanager
def running_stack(
    *,
    data_dir: Path | None = None,
    environ: dict[str, str] | None = None,
    redis_ha: bool | None = None,
) -> Iterator[RunningStack]:
    """Run a stack for the duration of a ``with`` block; it stops on any exit, Ctrl-C included.

    Args:
        data_dir: See :func:`start_stack`.
        environ: See :func:`start_stack`.
        redis_ha: See :func:`start_stack`.

    Yields:
        The running stack.
    """
    started = time.perf_counter()
    stack = start_stack(data_dir=data_dir, environ=environ, redis_ha=redis_ha)
    profile = ", Redis HA" if stack.urls.redis_sentinels else ""
    print(f"stack ({stack.provider}{profile}) ready in {time.perf_counter() - started:.2f} s")
    try:
        yield stack
    finally:
        stack.stop()
