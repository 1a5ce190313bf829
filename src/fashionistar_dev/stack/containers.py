"""The testcontainers provider, for machines with a Docker engine: opt-in, and untested here.

``FASHIONISTAR_STACK=containers`` asks for it; it is never chosen on its own, because the
machines this project is tested on have no Docker engine, so this code has never run here.
testcontainers starts PostgreSQL, PgBouncer and Redis; the fake partners run as a local
process, as in the native stack. It keeps no data between runs: ``make serve`` needs the
native stack.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fashionistar_dev.processes import Service, free_port
from fashionistar_dev.stack.native import start_partners
from fashionistar_dev.stack.types import StackUrls

POSTGRES_IMAGE = "postgres:16-alpine"
REDIS_IMAGE = "redis:7-alpine"
# The image the Compose file runs (bitnami/pgbouncer is no longer published).
PGBOUNCER_IMAGE = "edoburu/pgbouncer:v1.25.1-p0"


@dataclass
class ContainerStack:  # pragma: no cover - needs a Docker engine, none here
    """PostgreSQL, PgBouncer (with the shared template) and Redis in containers."""

    urls: StackUrls
    root: Path
    containers: list[Any] = field(default_factory=list)
    partners: Service | None = None
    provider: str = "containers"

    @classmethod
    def start(cls) -> ContainerStack:
        """Start the three containers and the fake partners.

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
        root = Path(tempfile.mkdtemp(prefix="fashionistar-containers-"))
        config_dir = root / "pgbouncer"
        # Readable by the image's own unprivileged user.
        config_dir.mkdir(mode=0o755)
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
        gateway_port = free_port()
        partners = start_partners(root=root, user=None, port=gateway_port)
        urls = replace(urls, payment_gateway_url=f"http://127.0.0.1:{gateway_port}")
        return cls(urls=urls, root=root, containers=[bouncer, redis, postgres], partners=partners)

    def stop(self) -> None:
        """Stop the fake partners, remove the containers and the configuration folder."""
        if self.partners is not None:
            self.partners.stop()
        for container in self.containers:
            container.stop()
        shutil.rmtree(self.root, ignore_errors=True)
