"""Redis high availability, natively: a master, one replica and three Sentinels.

The five processes run like the rest of the native stack (:mod:`fashionistar_dev.stack.native`):
children of this process in their own sessions, on free loopback ports, as an unprivileged user
when we are root, with a parent-death signal so that nothing outlives us, their files in one
folder. Use it on its own::

    with start_redis_ha() as ha:
        client = redis.Redis(*ha.master_address())
        ha.kill_master()
        seconds = ha.wait_for_failover()

or as the Redis of the whole stack (``start_stack(redis_ha=True)``,
``FASHIONISTAR_REDIS_HA=1``, ``python -m fashionistar_dev.stack --redis-ha``).

The Sentinel timings are **test values**, chosen so a failover takes a few seconds
(:class:`SentinelTimings` says what production would use).
"""

from __future__ import annotations

import contextlib
import functools
import pwd
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from fashionistar_dev.processes import (
    Service,
    chown_to,
    free_ports,
    service_dir,
    spawn_service,
    wait_ready,
)
from fashionistar_dev.stack.binaries import ensure_binaries, service_user
from fashionistar_dev.stack.types import StackError

MASTER_NAME = "fashionistar"
"""The name the Sentinels know the master by (``REDIS_SENTINEL_MASTER``)."""
SENTINEL_COUNT = 3
QUORUM = 2
"""Sentinels that must agree the master is down; a failover also needs a majority (2 of 3)."""
HOST = "127.0.0.1"
FAILOVER_TIMEOUT_S = 30.0
PROBE_OPTIONS: dict[str, Any] = {
    "socket_timeout": 0.5,
    "socket_connect_timeout": 0.5,
    "retry": Retry(NoBackoff(), 0),
}
"""Connection options of the group's own questions: answer now or fail now."""
PROBE_KEY = "fashionistar:redis-ha:failover-probe"
"""The key :meth:`RedisHA.wait_for_failover` writes to prove the new master takes writes."""


# --8<-- [start:timings]
@dataclass(frozen=True)
class SentinelTimings:
    """How fast the Sentinels give up on a master: test values by default.

    Attributes:
        down_after_ms: ``down-after-milliseconds``: a master that has not answered a PING for
            this long is subjectively down. Test value 2 s. Redis's default is 30 s; production
            uses 5-10 s (``deploy/redis/sentinel.conf``: 5 s): shorter than that, a slow fork,
            a VM pause or a network blip starts a failover, and every failover can lose
            acknowledged writes. Not 1 s even in tests: Sentinel pings and reconnects once a
            second, and at 1 s it declared a freshly promoted, healthy master down in 2 of 15
            failovers here (none of 15 at 2 s).
        failover_timeout_ms: ``failover-timeout``: a failover that has not finished in this time
            is abandoned, and the same master is not failed over again before twice this time.
            Test value 3 s. Redis's default is 180 s; production uses 30-180 s
            (``deploy/redis/sentinel.conf``: 30 s).
    """

    down_after_ms: int = 2000
    failover_timeout_ms: int = 3000


# --8<-- [end:timings]


def find_redis_server() -> str:
    """Return the ``redis-server`` program (it runs the Sentinels too, with ``--sentinel``).

    Returns:
        Its path; installed with the rest of the native stack's packages when missing.
    """
    return shutil.which("redis-server") or ensure_binaries().redis_server


def redis_node_args(
    redis_server: str,
    *,
    port: int,
    data_dir: Path,
    replica_of: tuple[str, int] | None,
    min_replicas_to_write: int,
) -> list[str]:
    """Build the command line of one data node (the master or a replica).

    Args:
        redis_server: The program.
        port: Its port.
        data_dir: Its folder.
        replica_of: The master to replicate, ``None`` for the master.
        min_replicas_to_write: ``min-replicas-to-write`` (0: off).

    Returns:
        The arguments.
    """
    args = [
        redis_server,
        "--port",
        str(port),
        "--bind",
        HOST,
        "--protected-mode",
        "no",
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        # A throwaway stack: no RDB snapshots, no AOF.
        "--save",
        "",
        "--appendonly",
        "no",
        # Stream the first sync straight away instead of waiting 5 s for more replicas.
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--shutdown-timeout",
        "1",
        # Both settings apply only while the node is a master; every node gets them because
        # a replica becomes the master at a failover.
        "--min-replicas-to-write",
        str(min_replicas_to_write),
        "--min-replicas-max-lag",
        "10",
    ]
    if replica_of is not None:
        args += ["--replicaof", replica_of[0], str(replica_of[1])]
    return args


# --8<-- [start:sentinel_conf]
def render_sentinel_conf(
    *,
    port: int,
    sentinel_id: str,
    master_name: str,
    master_port: int,
    replica_ports: list[int],
    peers: list[tuple[int, str]],
    timings: SentinelTimings,
    data_dir: Path,
) -> str:
    """Write the configuration of one Sentinel.

    The ``known-replica`` and ``known-sentinel`` lines are what a Sentinel writes into its own
    file once it has discovered its peers (through the master's ``INFO`` and hello messages,
    every 2 s); writing them up front makes the group ready at once instead of seconds later.

    Args:
        port: The Sentinel's port.
        sentinel_id: Its run id (40 hex digits), as its peers know it.
        master_name: The name of the monitored master.
        master_port: The master's port.
        replica_ports: The replicas' ports.
        peers: ``(port, run id)`` of the other Sentinels.
        timings: How fast to fail over.
        data_dir: Its working folder.

    Returns:
        The file's text. Sentinel rewrites it while it runs (it must be writable).
    """
    lines = [
        f"port {port}",
        f"bind {HOST}",
        "protected-mode no",
        "daemonize no",
        'logfile ""',
        f"dir {data_dir}",
        f"sentinel myid {sentinel_id}",
        f"sentinel monitor {master_name} {HOST} {master_port} {QUORUM}",
        f"sentinel down-after-milliseconds {master_name} {timings.down_after_ms}",
        f"sentinel failover-timeout {master_name} {timings.failover_timeout_ms}",
        f"sentinel parallel-syncs {master_name} 1",
    ]
    lines += [f"sentinel known-replica {master_name} {HOST} {p}" for p in replica_ports]
    lines += [f"sentinel known-sentinel {master_name} {HOST} {p} {i}" for p, i in peers]
    return "\n".join(lines) + "\n"


# --8<-- [end:sentinel_conf]


@dataclass
class RedisNode:
    """A data node: the master at start (``redis-a``) or the replica (``redis-b``)."""

    name: str
    port: int
    data_dir: Path
    service: Service | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Return ``(host, port)``."""
        return (HOST, self.port)

    @property
    def running(self) -> bool:
        """Tell whether its process runs."""
        return self.service is not None and self.service.process.poll() is None


@dataclass
class RedisHA:
    """A running master, replica and three Sentinels; use :meth:`start` to make one.

    Attributes:
        sentinels: ``(host, port)`` of the three Sentinels: what a client needs.
        master_name: The name the Sentinels monitor the master under.
    """

    root: Path
    owns_root: bool
    user: pwd.struct_passwd | None
    redis_server: str
    master_name: str
    timings: SentinelTimings
    min_replicas_to_write: int
    nodes: list[RedisNode] = field(default_factory=list)
    sentinel_services: list[Service] = field(default_factory=list)
    sentinels: list[tuple[str, int]] = field(default_factory=list)
    _client: Sentinel | None = None
    _killed: tuple[tuple[str, int], float] | None = None
    _paused: list[RedisNode] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        *,
        root: Path | None = None,
        redis_server: str | None = None,
        master_name: str = MASTER_NAME,
        timings: SentinelTimings | None = None,
        min_replicas_to_write: int = 0,
    ) -> RedisHA:
        """Start the master, the replica, then the Sentinels; return when all agree.

        Ready means: the replica is linked to the master, and every Sentinel reaches a quorum
        (``SENTINEL CKQUORUM``) and sees a healthy replica it could promote.

        Args:
            root: A folder to work in (kept at :meth:`stop`); ``None`` for a temporary one
                (removed at :meth:`stop`).
            redis_server: The program; found (or installed) when ``None``.
            master_name: The name of the monitored master.
            timings: Sentinel timings; short test values by default.
            min_replicas_to_write: Set on both nodes. 0 (the default) lets a master without a
                replica take writes, which the single surviving node needs after a failover.
                1 makes an isolated master refuse writes after 10 s without a replica: it
                bounds how long a partitioned old master can take writes that will be lost.

        Returns:
            The running group.

        Raises:
            StackError: A process did not start or the group did not agree in time; nothing
                started is left running.
        """
        user = service_user()
        owns_root = root is None
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="fashionistar-redis-ha-"))
        root.mkdir(parents=True, exist_ok=True)
        chown_to(root, user)
        ha = cls(
            root=root,
            owns_root=owns_root,
            user=user,
            redis_server=redis_server or find_redis_server(),
            master_name=master_name,
            timings=timings or SentinelTimings(),
            min_replicas_to_write=min_replicas_to_write,
        )
        try:
            ha._start_all()
        except BaseException:
            ha.stop()
            raise
        return ha

    # ----------------------------------------------------------------- starting

    def _spawn(
        self, name: str, args: list[str], death_signal: signal.Signals = signal.SIGTERM
    ) -> Service:
        return spawn_service(
            root=self.root,
            user=self.user,
            name=name,
            args=args,
            stop_signal=signal.SIGTERM,
            death_signal=death_signal,
        )

    def _start_node(self, node: RedisNode, replica_of: tuple[str, int] | None) -> None:
        node.service = self._spawn(
            node.name,
            redis_node_args(
                self.redis_server,
                port=node.port,
                data_dir=node.data_dir,
                replica_of=replica_of,
                min_replicas_to_write=self.min_replicas_to_write,
            ),
            # A node may be paused (SIGSTOP) by a fault test: only SIGKILL reaches it then.
            death_signal=signal.SIGKILL,
        )
        client = probe_client(node.address)
        try:
            wait_ready(node.service, client.ping)
            if replica_of is not None:
                wait_ready(node.service, lambda: _require_linked(client))
        finally:
            client.close()

    def _start_all(self) -> None:
        master_port, replica_port, *sentinel_ports = free_ports(2 + SENTINEL_COUNT)
        master = RedisNode("redis-a", master_port, service_dir(self.root, "redis-a", self.user))
        replica = RedisNode("redis-b", replica_port, service_dir(self.root, "redis-b", self.user))
        self.nodes = [master, replica]
        self._start_node(master, replica_of=None)
        self._start_node(replica, replica_of=master.address)
        ids = [secrets.token_hex(20) for _ in sentinel_ports]
        for index, (port, sentinel_id) in enumerate(zip(sentinel_ports, ids, strict=True)):
            folder = service_dir(self.root, f"sentinel-{index + 1}", self.user)
            conf = folder / "sentinel.conf"
            conf.write_text(
                render_sentinel_conf(
                    port=port,
                    sentinel_id=sentinel_id,
                    master_name=self.master_name,
                    master_port=master_port,
                    replica_ports=[replica_port],
                    peers=[(p, i) for p, i in zip(sentinel_ports, ids, strict=True) if p != port],
                    timings=self.timings,
                    data_dir=folder,
                )
            )
            chown_to(conf, self.user)
            self.sentinel_services.append(
                self._spawn(f"sentinel-{index + 1}", [self.redis_server, str(conf), "--sentinel"])
            )
            self.sentinels.append((HOST, port))
        self._client = Sentinel(
            self.sentinels,
            sentinel_kwargs=PROBE_OPTIONS,
            **PROBE_OPTIONS,
        )
        self.wait_healthy()

    def wait_healthy(self, timeout: float = FAILOVER_TIMEOUT_S) -> None:
        """Wait until every Sentinel has a quorum and a healthy replica to promote.

        Args:
            timeout: Seconds to wait.

        Raises:
            StackError: Not healthy in time (the message carries the Sentinel's log).
        """
        deadline = time.monotonic() + timeout
        for service, address in zip(self.sentinel_services, self.sentinels, strict=True):
            client = probe_client(address)
            try:
                wait_ready(
                    service,
                    functools.partial(_require_quorum_and_replica, client, self.master_name),
                    timeout=max(0.1, deadline - time.monotonic()),
                )
            finally:
                client.close()

    # ----------------------------------------------------------------- looking

    @property
    def pids(self) -> list[int]:
        """Return the process ids of the running data nodes and Sentinels."""
        services = [node.service for node in self.nodes if node.service is not None]
        return [
            s.process.pid for s in services + self.sentinel_services if s.process.poll() is None
        ]

    def _sentinel(self) -> Sentinel:
        if self._client is None:
            raise StackError("the Redis HA group is not running")
        return self._client

    def master_address(self) -> tuple[str, int]:
        """Ask the Sentinels where the master is.

        Returns:
            ``(host, port)`` of the current master.

        Raises:
            redis.sentinel.MasterNotFoundError: No Sentinel knows a healthy master (during a
                failover).
        """
        host, port = self._sentinel().discover_master(self.master_name)
        return (str(host), int(port))

    def replica_addresses(self) -> list[tuple[str, int]]:
        """Ask the Sentinels for the healthy replicas.

        Returns:
            ``(host, port)`` of each replica the Sentinels consider usable.
        """
        return [
            (str(host), int(port))
            for host, port in self._sentinel().discover_slaves(self.master_name)
        ]

    def _node_at(self, address: tuple[str, int]) -> RedisNode:
        return next(node for node in self.nodes if node.address == address)

    # ----------------------------------------------------------------- faults

    def kill_master(self) -> tuple[str, int]:
        """SIGKILL the current master: no shutdown, no last words to the replica.

        Returns:
            The killed master's ``(host, port)``.
        """
        address = self.master_address()
        node = self._node_at(address)
        assert node.service is not None
        self._killed = (address, time.perf_counter())
        node.service.process.kill()
        node.service.process.wait()
        return address

    def pause_master(self) -> tuple[str, int]:
        """SIGSTOP the current master: it hangs, as in a long stall or a network partition.

        Unlike a killed master it comes back (:meth:`resume_paused`) still believing it is
        the master, and clients still connected to it can write to it until Sentinel turns
        it into a replica: those writes are acknowledged and then lost.

        Returns:
            The paused master's ``(host, port)``.
        """
        address = self.master_address()
        node = self._node_at(address)
        assert node.service is not None
        self._killed = (address, time.perf_counter())
        node.service.process.send_signal(signal.SIGSTOP)
        self._paused.append(node)
        return address

    def resume_paused(self) -> None:
        """SIGCONT the nodes :meth:`pause_master` stopped."""
        for node in self._paused:
            if node.service is not None:
                node.service.process.send_signal(signal.SIGCONT)
        self._paused.clear()

    def wait_for_failover(self, timeout: float = FAILOVER_TIMEOUT_S) -> float:
        """Wait until the Sentinels name a new master and it takes a write.

        Also after :meth:`pause_master`.

        The new address is read the way clients read it (``redis-py``'s ``discover_master``:
        a Sentinel that sees the master up), and a ``SET`` on it must succeed.

        Args:
            timeout: Seconds to wait.

        Returns:
            Seconds from the fault (:meth:`kill_master`, :meth:`pause_master`) to the first
            write the new master accepts.

        Raises:
            StackError: No master was killed, or no failover within ``timeout``.
        """
        if self._killed is None:
            raise StackError("wait_for_failover() needs a kill_master() first")
        old, killed_at = self._killed
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                address = self.master_address()
                if address != old:
                    with probe_client(address) as client:
                        client.set(PROBE_KEY, "1", px=1000)
                    self._killed = None
                    return time.perf_counter() - killed_at
            except redis.RedisError:
                pass
            time.sleep(0.01)
        tails = "\n".join(s.log_tail(10) for s in self.sentinel_services)
        raise StackError(f"no failover within {timeout:.0f} s:\n{tails}")

    def restore_replica(self, timeout: float = FAILOVER_TIMEOUT_S) -> None:
        """Restart every killed node as a replica of the current master; wait until all is well.

        The node comes back empty (the stack keeps no files) and syncs in full from the new
        master. Returns when it is linked and every Sentinel sees it as a healthy replica, so
        that the next failover has a replica to promote.

        Args:
            timeout: Seconds to wait.
        """
        master = self.master_address()
        for node in self.nodes:
            if not node.running:
                self._start_node(node, replica_of=master)
        self.wait_healthy(timeout)

    # ----------------------------------------------------------------- stopping

    def stop(self) -> None:
        """Stop the Sentinels (so they start no failover), then the nodes; remove a temp folder."""
        if self._client is not None:
            for client in self._client.sentinels:
                client.close()
            self._client = None
        for service in reversed(self.sentinel_services):
            service.stop()
        self.resume_paused()
        for node in reversed(self.nodes):
            if node.service is not None:
                node.service.stop()
        if self.owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisHA:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def probe_client(address: tuple[str, int]) -> redis.Redis:
    """Return a client for one question to one server: short timeouts, no retries.

    redis-py retries a refused connection ten times with backoff by default (seconds in all);
    a probe that polls must fail at once instead.

    Args:
        address: ``(host, port)``.

    Returns:
        The client.
    """
    return redis.Redis(*address, **PROBE_OPTIONS)


def _require_linked(client: redis.Redis) -> None:
    if client.info("replication").get("master_link_status") != "up":
        raise redis.RedisError("replica not linked to its master yet")


def _require_quorum_and_replica(client: redis.Redis, master_name: str) -> None:
    client.execute_command("SENTINEL", "CKQUORUM", master_name)  # type: ignore[no-untyped-call]
    replicas = client.sentinel_slaves(master_name)
    healthy = [
        r
        for r in replicas
        if not r["is_sdown"] and not r["is_disconnected"] and r["master-link-status"] == "ok"
    ]
    if not healthy:
        raise redis.RedisError(f"Sentinel sees no healthy replica yet: {replicas}")


@contextlib.contextmanager
def start_redis_ha(
    *,
    master_name: str = MASTER_NAME,
    timings: SentinelTimings | None = None,
    min_replicas_to_write: int = 0,
) -> Iterator[RedisHA]:
    """Run a throwaway master, replica and three Sentinels for a ``with`` block.

    Args:
        master_name: See :meth:`RedisHA.start`.
        timings: See :meth:`RedisHA.start`.
        min_replicas_to_write: See :meth:`RedisHA.start`.

    Yields:
        The running group; it stops (and its folder goes) on any exit.
    """
    ha = RedisHA.start(
        master_name=master_name, timings=timings, min_replicas_to_write=min_replicas_to_write
    )
    with ha:
        yield ha
