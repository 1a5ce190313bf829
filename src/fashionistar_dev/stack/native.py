"""The native provider: PostgreSQL, PgBouncer and Redis from the machine's own binaries.

Each service runs as a child process in its own session, on a free loopback port, with its
files in one directory. PostgreSQL and PgBouncer refuse to run as root, so a root process runs
all three as an unprivileged user. A fourth child, the fake card gateway
(``fashionistar_dev.partners``), runs with this interpreter as the current user. The
children get a parent-death signal, so even a parent killed with SIGKILL leaves no server behind.
"""

from __future__ import annotations

import functools
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import redis

from fashionistar_dev.processes import (
    Service,
    accepts,
    chown_to,
    free_ports,
    service_dir,
    spawn_service,
    wait_ready,
)
from fashionistar_dev.stack.binaries import SUPERUSER, Binaries, ensure_binaries, service_user
from fashionistar_dev.stack.pgbouncer import render_pgbouncer_ini
from fashionistar_dev.stack.types import StackError, StackUrls

if TYPE_CHECKING:
    from fashionistar_dev.stack.redis_ha import RedisHA

DATABASE_NAME = "fashionistar"


def start_partners(*, root: Path, user: pwd.struct_passwd | None, port: int) -> Service:
    """Start the fake partners (card gateway, shipping, fraud) and wait until they answer.

    Our own Python code, not a system server: it runs as the current user, with this
    interpreter, so it finds the project's packages.

    Args:
        root: The stack's folder (its log goes to ``logs/payment-gateway.log``).
        user: The stack's service user (it owns the logs folder).
        port: The loopback port to listen on.

    Returns:
        The running service.
    """
    service = spawn_service(
        root=root,
        user=user,
        name="payment-gateway",
        args=[sys.executable, "-m", "fashionistar_dev.partners", "--port", str(port)],
        stop_signal=signal.SIGTERM,
        as_service_user=False,
    )
    wait_ready(service, functools.partial(accepts, port))
    return service


@dataclass
class NativeStack:
    """A native stack; use :meth:`start` to make one."""

    root: Path
    persistent: bool
    binaries: Binaries
    user: pwd.struct_passwd | None
    services: list[Service] = field(default_factory=list)
    urls: StackUrls = field(default=StackUrls(database_url="", redis_url=""))
    provider: str = "native"
    want_redis_ha: bool = False
    redis_ha: RedisHA | None = None

    @classmethod
    def start(cls, *, data_dir: Path | None = None, redis_ha: bool = False) -> NativeStack:
        """Start PostgreSQL, then PgBouncer in front of it, then Redis, then the fake gateway.

        Args:
            data_dir: Keep data here and reuse it next time; ``None`` for a throwaway stack.
            redis_ha: Run Redis as a master, a replica and three Sentinels
                (:mod:`fashionistar_dev.stack.redis_ha`) instead of one server. Redis then keeps
                no data between starts, also with ``data_dir``.

        Returns:
            The running stack.

        Raises:
            StackError: A server did not start; the message carries the end of its log.
        """
        binaries = ensure_binaries()
        if data_dir is None:
            root = Path(tempfile.mkdtemp(prefix="fashionistar-stack-"))
        else:
            root = data_dir.resolve()
            root.mkdir(parents=True, exist_ok=True)
        stack = cls(
            root=root,
            persistent=data_dir is not None,
            binaries=binaries,
            user=service_user(),
            want_redis_ha=redis_ha,
        )
        try:
            stack._start_all()
        except BaseException:
            stack.stop()
            raise
        return stack

    @property
    def pids(self) -> list[int]:
        """Return the process ids of the running servers.

        Returns:
            One pid per service (five for Redis in the HA profile).
        """
        pids = [service.process.pid for service in self.services]
        return pids + (self.redis_ha.pids if self.redis_ha is not None else [])

    def _chown(self, path: Path) -> None:
        chown_to(path, self.user)

    def _dir(self, name: str) -> Path:
        return service_dir(self.root, name, self.user)

    def _run(self, args: list[str]) -> None:
        result = subprocess.run(
            args, capture_output=True, text=True, user=self._uid(), group=self._gid(), check=False
        )
        if result.returncode != 0:
            raise StackError(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")

    def _uid(self) -> int | None:
        return self.user.pw_uid if self.user else None

    def _gid(self) -> int | None:
        return self.user.pw_gid if self.user else None

    def _spawn(
        self,
        name: str,
        args: list[str],
        stop_signal: signal.Signals,
        *,
        as_service_user: bool = True,
    ) -> Service:
        service = spawn_service(
            root=self.root,
            user=self.user,
            name=name,
            args=args,
            stop_signal=stop_signal,
            as_service_user=as_service_user,
        )
        self.services.append(service)
        return service

    def _wait_ready(self, service: Service, probe: Callable[[], object]) -> None:
        wait_ready(service, probe)

    def _start_all(self) -> None:
        pg_port, bouncer_port, redis_port, gateway_port = free_ports(4)
        self._start_postgres(pg_port)
        self._start_pgbouncer(pg_port, bouncer_port)
        sentinels: tuple[str, ...] = ()
        sentinel_master = None
        if self.want_redis_ha:
            redis_ha = self._start_redis_ha()
            _, redis_port = redis_ha.master_address()
            sentinels = tuple(f"{h}:{p}" for h, p in redis_ha.sentinels)
            sentinel_master = redis_ha.master_name
        else:
            self._start_redis(redis_port)
        self._start_payment_gateway(gateway_port)
        self.urls = StackUrls(
            database_url=f"postgres://{SUPERUSER}@127.0.0.1:{bouncer_port}/{DATABASE_NAME}",
            redis_url=f"redis://127.0.0.1:{redis_port}/0",
            direct_database_url=f"postgres://{SUPERUSER}@127.0.0.1:{pg_port}/{DATABASE_NAME}",
            pgbouncer_admin_url=f"postgres://{SUPERUSER}@127.0.0.1:{bouncer_port}/pgbouncer",
            payment_gateway_url=f"http://127.0.0.1:{gateway_port}",
            redis_sentinels=sentinels,
            redis_sentinel_master=sentinel_master,
        )

    def _start_redis_ha(self) -> RedisHA:
        from fashionistar_dev.stack.redis_ha import RedisHA

        folder = self._dir("redis-ha")
        # The data nodes start empty every time: after a failover the roles are swapped, and a
        # restart that made the wrong node master would let the replica wipe the newer data.
        for stale in folder.iterdir():
            shutil.rmtree(stale)
        self.redis_ha = RedisHA.start(root=folder, redis_server=self.binaries.redis_server)
        return self.redis_ha

    def _start_postgres(self, port: int) -> None:
        data = self.root / "postgres"
        if not (data / "PG_VERSION").exists():
            self._dir("postgres")
            self._run(
                [
                    self.binaries.initdb,
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
        socket_dir = self._dir("sockets")
        durability = [] if self.persistent else ["-c", "fsync=off", "-c", "full_page_writes=off"]
        service = self._spawn(
            "postgres",
            [
                self.binaries.postgres,
                "-D",
                str(data),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={socket_dir}",
                "-c",
                "max_connections=200",
                *durability,
            ],
            # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions, then stop.
            signal.SIGINT,
        )
        admin_url = f"postgres://{SUPERUSER}@127.0.0.1:{port}/postgres"
        self._wait_ready(service, lambda: psycopg.connect(admin_url, connect_timeout=2).close())
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def _start_pgbouncer(self, pg_port: int, port: int) -> None:
        conf_dir = self._dir("pgbouncer")
        auth_file = conf_dir / "userlist.txt"
        auth_file.write_text(f'"{SUPERUSER}" ""\n')
        ini = conf_dir / "pgbouncer.ini"
        ini.write_text(
            render_pgbouncer_ini(
                postgres_host="127.0.0.1",
                postgres_port=pg_port,
                listen_port=port,
                auth_file=str(auth_file),
                logfile=str(conf_dir / "pgbouncer.log"),
                pidfile=str(conf_dir / "pgbouncer.pid"),
            )
        )
        for path in (auth_file, ini):
            self._chown(path)
        service = self._spawn("pgbouncer", [self.binaries.pgbouncer, str(ini)], signal.SIGTERM)
        url = f"postgres://{SUPERUSER}@127.0.0.1:{port}/{DATABASE_NAME}"
        self._wait_ready(service, lambda: psycopg.connect(url, connect_timeout=2).close())

    def _start_redis(self, port: int) -> None:
        data = self._dir("redis")
        persistence = ["--save", "60 1"] if self.persistent else ["--save", ""]
        service = self._spawn(
            "redis",
            [
                self.binaries.redis_server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data),
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                *persistence,
            ],
            signal.SIGTERM,
        )
        client = redis.Redis(port=port, socket_connect_timeout=2)
        self._wait_ready(service, client.ping)
        client.close()

    def _start_payment_gateway(self, port: int) -> None:
        self.services.append(start_partners(root=self.root, user=self.user, port=port))

    def stop(self) -> None:
        """Stop the servers in reverse order and remove a throwaway stack's directory."""
        if self.redis_ha is not None:
            self.redis_ha.stop()
            self.redis_ha = None
        for service in reversed(self.services):
            service.stop()
        self.services.clear()
        if not self.persistent:
            shutil.rmtree(self.root, ignore_errors=True)
