"""The native provider: PostgreSQL, PgBouncer and Redis from the machine's own binaries.

Each service runs as a child process in its own session, on a free loopback port, with its
files in one directory. PostgreSQL and PgBouncer refuse to run as root, so a root process runs
all three as an unprivileged user. A fourth child, the fake card gateway
(``fashionistar_dev.partners``), runs with this interpreter as the current user. The
children get a parent-death signal, so even a parent killed with SIGKILL leaves no server behind.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import redis

from fashionistar_dev.processes import die_with_parent
from fashionistar_dev.stack import StackError, StackUrls
from fashionistar_dev.stack.pgbouncer import render_pgbouncer_ini

if TYPE_CHECKING:
    from fashionistar_dev.stack.redis_ha import RedisHA

DATABASE_NAME = "fashionistar"
SUPERUSER = "postgres"
MIN_POSTGRES_MAJOR = 15
DEBIAN_PACKAGES = ("postgresql", "pgbouncer", "redis-server")
SERVICE_USER_FALLBACK = "fashionistar"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Binaries:
    """Paths of the server programs the native stack runs."""

    initdb: str
    postgres: str
    pgbouncer: str
    redis_server: str


def _postgres_bin_dirs() -> list[Path]:
    found = shutil.which("initdb")
    dirs = [Path(found).resolve().parent] if found else []

    def major(path: Path) -> int:
        return int(path.parent.name) if path.parent.name.isdigit() else 0

    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)
    return dirs


def find_binaries() -> Binaries | None:
    """Look for the server programs on ``PATH`` and in Debian's PostgreSQL folders.

    Returns:
        Their paths, or ``None`` when one is missing.
    """
    pg_dir = next((d for d in _postgres_bin_dirs() if (d / "postgres").exists()), None)
    pgbouncer = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    redis_server = shutil.which("redis-server")
    if pg_dir is None or pgbouncer is None or redis_server is None:
        return None
    return Binaries(
        initdb=str(pg_dir / "initdb"),
        postgres=str(pg_dir / "postgres"),
        pgbouncer=pgbouncer,
        redis_server=redis_server,
    )


def apt_install(packages: Sequence[str]) -> bool:
    """Install Debian packages with apt-get, if this is root on a machine that has it.

    Args:
        packages: The package names.

    Returns:
        Whether apt-get ran (it raises if it fails).
    """
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print(f"installing {' '.join(packages)} with apt-get ...")
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        check=True,
        env=apt_env,
    )
    return True


def ensure_binaries() -> Binaries:
    """Find the server programs, installing Debian's packages when root and they are missing.

    Returns:
        The programs' paths.

    Raises:
        StackError: They are missing and cannot be installed here.
    """
    binaries = find_binaries()
    if binaries is None and apt_install(DEBIAN_PACKAGES):
        binaries = find_binaries()
    if binaries is None:
        raise StackError(
            "PostgreSQL, PgBouncer and Redis servers are needed for the native stack. "
            f"Install the packages {', '.join(DEBIAN_PACKAGES)} (Debian/Ubuntu names), "
            "or set DATABASE_URL and REDIS_URL to running services."
        )
    version = subprocess.run(
        [binaries.postgres, "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", version)
    if match is None or int(match.group(1)) < MIN_POSTGRES_MAJOR:
        raise StackError(f"PostgreSQL {MIN_POSTGRES_MAJOR} or newer is needed, found: {version}")
    return binaries


def free_port() -> int:
    """Ask the kernel for a free loopback port.

    Returns:
        A port number that was free a moment ago.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """Ask the kernel for several distinct free loopback ports.

    Args:
        count: How many.

    Returns:
        Port numbers that were free (and different from each other) a moment ago.
    """
    with contextlib.ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def service_user() -> pwd.struct_passwd | None:
    """Return the unprivileged user the servers run as when we are root.

    Uses ``postgres`` when it exists, else creates a system user ``fashionistar``.

    Returns:
        The user's passwd entry, or ``None`` when we are not root (the servers run as us).
    """
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, SERVICE_USER_FALLBACK):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_USER_FALLBACK], check=True)
    return pwd.getpwnam(SERVICE_USER_FALLBACK)


@dataclass
class Service:
    """One server process of the stack."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None
    stop_signal: signal.Signals

    def log_tail(self, lines: int = 20) -> str:
        """Return the end of the service's log, for error messages.

        Args:
            lines: How many lines.

        Returns:
            The last lines of the log (none when its output went to ours).
        """
        if self.log_path is None:
            return ""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        """Stop the process: its own shutdown signal first, SIGKILL if it hangs.

        What it started and left behind in its session (a worker's child, say) is killed too.
        """
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def chown_to(path: Path, user: pwd.struct_passwd | None) -> None:
    """Give a path to the service user (a no-op when we are not root).

    Args:
        path: The file or folder.
        user: The service user, or ``None``.
    """
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def service_dir(root: Path, name: str, user: pwd.struct_passwd | None) -> Path:
    """Make (or reuse) a private folder under ``root`` that the service user owns.

    Args:
        root: The stack's folder.
        name: The folder's name.
        user: The service user, or ``None``.

    Returns:
        The folder.
    """
    path = root / name
    path.mkdir(mode=0o700, exist_ok=True)
    chown_to(root, user)
    chown_to(path, user)
    return path


def spawn_service(
    *,
    root: Path,
    user: pwd.struct_passwd | None,
    name: str,
    args: list[str],
    stop_signal: signal.Signals,
    as_service_user: bool = True,
    death_signal: signal.Signals | None = None,
    to_log_file: bool = True,
    env: dict[str, str] | None = None,
) -> Service:
    """Start one server as a child in its own session, logging to ``root/logs/<name>.log``.

    The child gets ``stop_signal`` when its parent dies (:func:`die_with_parent`).

    Args:
        root: The stack's folder; also the child's working directory.
        user: The service user, or ``None`` to run as ourselves.
        name: The service's name (and log file's).
        args: The program and its arguments.
        stop_signal: The signal that shuts the server down cleanly.
        as_service_user: ``False`` runs our own code as the current user.
        death_signal: The signal the child gets when we die; ``stop_signal`` by default.
            A process that may be stopped (SIGSTOP) needs SIGKILL: it ignores others until
            it is continued.
        to_log_file: ``False`` leaves the child's output on our standard output.
        env: The child's environment; ours by default.

    Returns:
        The started service.
    """
    log_path = service_dir(root, "logs", user) / f"{name}.log" if to_log_file else None
    drop = as_service_user and user is not None
    uid = user.pw_uid if drop and user else None
    gid = user.pw_gid if drop and user else None
    with open(log_path or os.devnull, "ab") as log:
        if log_path:
            chown_to(log_path, user)
        process = subprocess.Popen(
            args,
            stdout=log if to_log_file else None,
            stderr=subprocess.STDOUT if to_log_file else None,
            stdin=subprocess.DEVNULL,
            user=uid,
            group=gid,
            extra_groups=[] if drop else None,
            start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, death_signal or stop_signal),
            cwd=root,
            env=env,
        )
    return Service(name=name, process=process, log_path=log_path, stop_signal=stop_signal)


STARTING_ERRORS: tuple[type[Exception], ...] = (OSError, psycopg.Error, redis.RedisError)
"""What a server's probe raises while it is still starting."""


def wait_ready(
    service: Service,
    probe: Callable[[], object],
    *,
    timeout: float = READY_TIMEOUT_S,
    errors: tuple[type[Exception], ...] = STARTING_ERRORS,
) -> None:
    """Call ``probe`` until it stops raising, or fail with the end of the service's log.

    Args:
        service: The service being started.
        probe: A call that raises one of ``errors`` until the service is ready.
        timeout: Seconds to wait.
        errors: What the probe raises while the service starts.

    Raises:
        StackError: The process exited, or it was not ready in time.
    """
    deadline = time.monotonic() + timeout
    while True:
        if service.process.poll() is not None:
            raise StackError(f"{service.name} exited at start:\n{service.log_tail()}")
        try:
            probe()
            return
        except errors as error:
            if time.monotonic() > deadline:
                raise StackError(
                    f"{service.name} not ready after {timeout:.0f} s ({error}):\n"
                    f"{service.log_tail()}"
                ) from error
            time.sleep(0.05)


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
    wait_ready(service, lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close())
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
        pg_port, bouncer_port, redis_port = free_port(), free_port(), free_port()
        gateway_port = free_port()
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
