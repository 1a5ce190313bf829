"""The testcontainers provider: for machines with a Docker engine.

Kept thin on purpose: testcontainers starts and removes the containers. It cannot run on a
machine without a Docker engine, so the tests here exercise only the detection.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fashionistar_dev.stack import StackUrls

POSTGRES_IMAGE = "postgres:16-alpine"
REDIS_IMAGE = "redis:7-alpine"
PGBOUNCER_IMAGE = "bitnami/pgbouncer:1.23.1"


def docker_answers() -> bool:
    """Tell whether a Docker engine answers a ping.

    Returns:
        ``True`` when testcontainers can start containers here.
    """
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - any failure means "no engine": docker raises many kinds
        return False
    return True  # pragma: no cover - needs a Docker engine, none here


@dataclass
class ContainerStack:  # pragma: no cover - needs a Docker engine, none here
    """PostgreSQL, PgBouncer (with the shared template) and Redis in containers."""

    urls: StackUrls
    containers: list[Any] = field(default_factory=list)
    provider: str = "containers"

    @classmethod
    def start(cls) -> ContainerStack:
        """Start the three containers.

        Returns:
            The running stack.
        """
        from testcontainers.core.container import DockerContainer
        from testcontainers.postgres import PostgresContainer
        from testcontainers.redis import RedisContainer

        from fashionistar_dev.stack.pgbouncer import render_pgbouncer_ini

        postgres = PostgresContainer(POSTGRES_IMAGE, username="postgres", dbname="fashionistar")
        postgres.start()
        redis = RedisContainer(REDIS_IMAGE)
        redis.start()
        config_dir = Path(tempfile.mkdtemp(prefix="fashionistar-pgbouncer-"))
        (config_dir / "userlist.txt").write_text(f'"postgres" "{postgres.password}"\n')
        (config_dir / "pgbouncer.ini").write_text(
            render_pgbouncer_ini(
                postgres_host=postgres.get_docker_client().bridge_ip(
                    postgres.get_wrapped_container().id
                ),
                postgres_port=5432,
                listen_addr="0.0.0.0",  # noqa: S104 - inside its container
                listen_port=6432,
                auth_type="plain",
                auth_file="/etc/pgbouncer/userlist.txt",
                logfile="",
                pidfile="",
            )
        )
        bouncer = (
            DockerContainer(PGBOUNCER_IMAGE)
            .with_volume_mapping(str(config_dir), "/etc/pgbouncer")
            .with_command("pgbouncer /etc/pgbouncer/pgbouncer.ini")
            .with_exposed_ports(6432)
        )
        bouncer.start()
        host = bouncer.get_container_host_ip()
        password = postgres.password
        urls = StackUrls(
            database_url=f"postgres://postgres:{password}@{host}:{bouncer.get_exposed_port(6432)}/fashionistar",
            redis_url=f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0",
            direct_database_url=postgres.get_connection_url(driver=None),
            pgbouncer_admin_url=f"postgres://postgres:{password}@{host}:{bouncer.get_exposed_port(6432)}/pgbouncer",
        )
        return cls(urls=urls, containers=[bouncer, redis, postgres])

    def stop(self) -> None:
        """Remove the containers."""
        for container in self.containers:
            container.stop()
