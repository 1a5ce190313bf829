"""What every provider of the stack gives: its URLs, a way to stop it, and its one error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class StackError(RuntimeError):
    """The stack could not be started; the message says what to do."""


@dataclass(frozen=True)
class StackUrls:
    """Where the services of a running stack answer.

    Attributes:
        database_url: PostgreSQL through PgBouncer: what the application uses.
        redis_url: Redis.
        direct_database_url: PostgreSQL without PgBouncer (admin work, measurements), if known.
        pgbouncer_admin_url: PgBouncer's admin console (``SHOW POOLS``), if known.
        payment_gateway_url: The (fake) card gateway, ``http://host:port``, if one runs.
        redis_sentinels: ``host:port`` of each Sentinel, in the Redis HA profile. ``redis_url``
            then names the master *at start*: after a failover only Sentinel knows the master.
        redis_sentinel_master: The name the Sentinels know the master by, in the HA profile.
    """

    database_url: str
    redis_url: str
    direct_database_url: str | None = None
    pgbouncer_admin_url: str | None = None
    payment_gateway_url: str | None = None
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str | None = None

    def environ(self) -> dict[str, str]:
        """Return the environment variables that point the application at this stack.

        Returns:
            ``DATABASE_URL`` and ``REDIS_URL``, plus the optional URLs that are known.
        """
        env = {"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url}
        if self.direct_database_url:
            env["DATABASE_DIRECT_URL"] = self.direct_database_url
        if self.pgbouncer_admin_url:
            env["PGBOUNCER_ADMIN_URL"] = self.pgbouncer_admin_url
        if self.payment_gateway_url:
            env["PAYMENT_GATEWAY_URL"] = self.payment_gateway_url
        if self.redis_sentinels and self.redis_sentinel_master:
            env["REDIS_SENTINELS"] = ",".join(self.redis_sentinels)
            env["REDIS_SENTINEL_MASTER"] = self.redis_sentinel_master
        return env


class RunningStack(Protocol):
    """A started stack: its URLs, and a way to stop it."""

    provider: str
    urls: StackUrls

    def stop(self) -> None:
        """Stop everything this stack started (a no-op for the ``env`` provider)."""
