"""Redis high availability: a master, a replica, three Sentinels; failover; the client helper.

Each test starts its own group (about 0.1 s) on its own ports, so killing its master never
touches the Redis of the test run. Failover times are printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from fashionistar.kernel import redis_client as redis_client_module
from fashionistar.kernel.redis_client import (
    RedisCache,
    aredis_client,
    parse_sentinels,
    redis_client,
    sentinel_settings,
    shared_redis_client,
)
from fashionistar_dev.processes import StartError
from fashionistar_dev.stack import EnvStack, StackError, StackUrls, start_stack, wants_redis_ha
from fashionistar_dev.stack.native import NativeStack
from fashionistar_dev.stack.redis_ha import (
    MASTER_NAME,
    RedisHA,
    render_sentinel_conf,
    start_redis_ha,
)
from tests.processes import child_pids, wait_gone

NATIVE = {"FASHIONISTAR_STACK": "native"}
FAILOVER_BOUND_S = 15.0
"""Generous: the group fails over in 2-4 s here; a loaded CI machine may take longer."""


@pytest.fixture
def ha(settings) -> Iterator[RedisHA]:
    """A fresh HA group, and the application's settings pointing at its Sentinels."""
    with start_redis_ha() as group:
        settings.REDIS_SENTINELS = [f"{host}:{port}" for host, port in group.sentinels]
        settings.REDIS_SENTINEL_MASTER = group.master_name
        yield group
        running = group.pids
    assert running
    assert wait_gone(running) == []
    assert not group.root.exists()


def role(address: tuple[str, int]) -> str:
    with redis.Redis(*address, decode_responses=True) as client:
        return str(client.role()[0])


# ----------------------------------------------------------------- the group


def test_the_group_is_a_master_a_replica_and_three_sentinels(ha: RedisHA) -> None:
    assert len(ha.sentinels) == 3
    assert len(ha.pids) == 5
    master = ha.master_address()
    assert role(master) == "master"
    (replica,) = ha.replica_addresses()
    assert role(replica) == "slave"
    for address in ha.sentinels:
        with redis.Redis(*address, decode_responses=True) as sentinel:
            assert sentinel.execute_command("SENTINEL", "CKQUORUM", MASTER_NAME).startswith("OK")
            assert sentinel.sentinel_get_master_addr_by_name(MASTER_NAME) == master


def test_the_servers_run_unprivileged_when_we_are_root(ha: RedisHA) -> None:
    if os.geteuid() != 0:
        pytest.skip("not root: the servers run as the current user")
    owners = {os.stat(f"/proc/{pid}").st_uid for pid in ha.pids}
    assert 0 not in owners


def test_a_write_through_the_helper_lands_on_the_master_and_reaches_the_replica(
    ha: RedisHA,
) -> None:
    client = redis_client(decode_responses=True)
    client.set("greeting", "hello")
    # WAIT 1 100: return once one replica has the write, or after 100 ms.
    assert client.execute_command("WAIT", 1, 5000) == 1
    with redis.Redis(*ha.master_address(), decode_responses=True) as master:
        assert master.get("greeting") == "hello"
    (replica_address,) = ha.replica_addresses()
    with redis.Redis(*replica_address, decode_responses=True) as replica:
        assert replica.get("greeting") == "hello"
        with pytest.raises(redis.ReadOnlyError):
            replica.set("greeting", "on a replica")
    client.close()


def test_sigkill_of_the_master_promotes_the_replica_and_the_client_writes_again(
    ha: RedisHA,
) -> None:
    client = redis_client(decode_responses=True)
    client.set("order:1", "placed")
    assert client.execute_command("WAIT", 1, 5000) == 1
    old_master = ha.master_address()
    (replica,) = ha.replica_addresses()

    assert ha.kill_master() == old_master
    seconds = ha.wait_for_failover(timeout=FAILOVER_BOUND_S)
    print(f"failover: {seconds:.2f} s from SIGKILL to the first write on the new master")

    assert ha.master_address() == replica
    assert role(replica) == "master"
    # The same client object: its pooled connection to the dead master fails, the retry asks
    # the Sentinels, the new connection goes to the promoted replica.
    client.set("order:2", "placed")
    assert client.get("order:1") == "placed"  # acknowledged by a replica before the kill
    assert client.connection_pool.get_master_address() == replica
    client.close()

    ha.restore_replica()
    assert ha.replica_addresses() == [old_master]
    assert role(old_master) == "slave"


def test_the_async_client_follows_a_failover(ha: RedisHA) -> None:
    async def scenario() -> float:
        client = aredis_client(decode_responses=True)
        await client.set("stock:1", 5)
        old_master = ha.master_address()
        ha.kill_master()
        # The blocking wait runs in a thread so the loop stays free.
        seconds = await asyncio.to_thread(ha.wait_for_failover, FAILOVER_BOUND_S)
        assert await client.incr("stock:1") in (1, 6)  # 1 if the first write was lost
        assert ha.master_address() != old_master
        await client.aclose()
        return seconds

    print(f"failover (asyncio client): {asyncio.run(scenario()):.2f} s")


def test_the_cache_backend_goes_through_sentinel_and_survives_a_failover(ha: RedisHA) -> None:
    cache = RedisCache("redis://127.0.0.1:1/0", {})  # LOCATION is not used with Sentinels
    cache.set("product:1", {"name": "scarf"}, timeout=60)
    assert cache.get("product:1") == {"name": "scarf"}
    ha.kill_master()
    ha.wait_for_failover(timeout=FAILOVER_BOUND_S)
    cache.set("product:2", {"name": "hat"}, timeout=60)
    assert cache.get("product:2") == {"name": "hat"}


def test_every_cache_backend_through_sentinel_shares_the_process_client(ha: RedisHA) -> None:
    first, second = (RedisCache("redis://127.0.0.1:1/0", {}) for _ in range(2))
    assert first._cache.get_client() is second._cache.get_client() is shared_redis_client()


def test_the_cache_backend_without_sentinels_is_djangos(settings, stack) -> None:
    settings.REDIS_SENTINELS = []
    cache = RedisCache(stack.urls.redis_url, {})
    cache.set("ha-test:plain", 1, timeout=5)
    assert cache.get("ha-test:plain") == 1
    assert cache._cache.get_client().connection_pool.connection_kwargs["port"] == int(
        stack.urls.redis_url.rsplit(":", 1)[1].split("/")[0]
    )


def test_a_paused_master_wakes_up_still_a_master_after_the_failover(ha: RedisHA) -> None:
    old_master = ha.master_address()
    assert ha.pause_master() == old_master
    seconds = ha.wait_for_failover(timeout=FAILOVER_BOUND_S)
    print(f"failover after SIGSTOP: {seconds:.2f} s")
    ha.resume_paused()
    # Two masters for a while: Sentinel waits 8 s before it turns the old one into a replica,
    # and until then it takes the writes of whoever is still connected to it.
    assert role(old_master) == "master"
    assert role(ha.master_address()) == "master"
    with redis.Redis(*old_master) as stale:
        assert stale.set("written-to-the-old-master", 1)


def test_no_failover_without_a_replica_says_so(ha: RedisHA) -> None:
    (replica,) = ha.replica_addresses()
    node = next(node for node in ha.nodes if node.address == replica)
    assert node.service is not None
    node.service.process.kill()
    ha.kill_master()
    with pytest.raises(StackError, match="no failover within 1 s"):
        ha.wait_for_failover(timeout=1)


def test_wait_for_failover_needs_a_kill_first(ha: RedisHA) -> None:
    with pytest.raises(StackError, match="needs a kill_master"):
        ha.wait_for_failover()


def test_a_node_that_dies_at_start_stops_the_group_and_leaves_nothing() -> None:
    before = set(child_pids(os.getpid()))
    with pytest.raises(StartError, match="redis-a exited at start"):
        RedisHA.start(redis_server="/bin/false")
    assert wait_gone(sorted(set(child_pids(os.getpid())) - before)) == []


def test_a_stopped_group_answers_no_more_questions() -> None:
    group = RedisHA.start()
    group.stop()
    assert not group.root.exists()
    with pytest.raises(StackError, match="not running"):
        group.master_address()


def test_sentinel_configuration_lists_peers_and_test_timings(tmp_path) -> None:
    from fashionistar_dev.stack.redis_ha import SentinelTimings

    conf = render_sentinel_conf(
        port=26379,
        sentinel_id="a" * 40,
        master_name="shop",
        master_port=6379,
        replica_ports=[6380],
        peers=[(26380, "b" * 40)],
        timings=SentinelTimings(down_after_ms=5000, failover_timeout_ms=60000),
        data_dir=tmp_path,
    )
    assert "sentinel monitor shop 127.0.0.1 6379 2" in conf
    assert "sentinel down-after-milliseconds shop 5000" in conf
    assert "sentinel failover-timeout shop 60000" in conf
    assert "sentinel known-replica shop 127.0.0.1 6380" in conf
    assert f"sentinel known-sentinel shop 127.0.0.1 26380 {'b' * 40}" in conf


# ----------------------------------------------------------------- the client helper


def test_without_sentinels_the_helper_uses_redis_url(settings, stack) -> None:
    settings.REDIS_SENTINELS = []
    client = redis_client()
    assert client.ping()
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == redis_client_module.SOCKET_TIMEOUT_S
    assert kwargs["socket_connect_timeout"] == redis_client_module.SOCKET_CONNECT_TIMEOUT_S
    client.close()

    async def ping() -> bool:
        aclient = aredis_client()
        try:
            return bool(await aclient.ping())
        finally:
            await aclient.aclose()

    assert asyncio.run(ping())


def test_the_sentinel_object_is_made_once_per_process(ha: RedisHA) -> None:
    first, second = redis_client(), redis_client()
    assert first.connection_pool is not second.connection_pool
    assert first.connection_pool.sentinel_manager is second.connection_pool.sentinel_manager
    first.close()
    second.close()


def test_the_async_sentinel_is_made_once_per_event_loop(ha: RedisHA) -> None:
    async def managers() -> tuple[object, object]:
        first, second = aredis_client(), aredis_client()
        assert await first.ping()
        pair = (first.connection_pool.sentinel_manager, second.connection_pool.sentinel_manager)
        await first.aclose()
        await second.aclose()
        return pair

    one, same = asyncio.run(managers())
    other, _ = asyncio.run(managers())
    assert one is same
    assert other is not one  # a new loop gets its own: async connections belong to their loop
    # Outside a running loop nothing is cached.
    outside = aredis_client().connection_pool.sentinel_manager
    assert outside is not aredis_client().connection_pool.sentinel_manager


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["10.0.0.1:26379", " b:26380 "], (("10.0.0.1", 26379), ("b", 26380))),
        (["[::1]:26379"], (("::1", 26379),)),
        ([("c", "26381")], (("c", 26381),)),
        ([], ()),
    ],
)
def test_sentinel_addresses_are_parsed(items, expected) -> None:
    assert parse_sentinels(items) == expected


@pytest.mark.parametrize("item", ["no-port", "host:", ":26379", "host:port"])
def test_a_malformed_sentinel_address_is_refused(item: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="host:port"):
        parse_sentinels([item])


def test_sentinels_without_a_master_name_are_refused(settings) -> None:
    settings.REDIS_SENTINELS = ["127.0.0.1:26379"]
    settings.REDIS_SENTINEL_MASTER = ""
    with pytest.raises(ImproperlyConfigured, match="REDIS_SENTINEL_MASTER is not"):
        sentinel_settings()


# ----------------------------------------------------------------- the stack in the HA profile


def test_the_stack_in_the_ha_profile_exports_the_sentinels_and_stops_clean() -> None:
    stack = start_stack(environ={**NATIVE, "FASHIONISTAR_REDIS_HA": "1"})
    assert isinstance(stack, NativeStack)
    assert stack.redis_ha is not None
    root, pids = stack.root, stack.pids
    try:
        assert len(pids) == 3 + 5  # postgres, pgbouncer, gateway; 2 Redis, 3 Sentinels
        env = stack.urls.environ()
        sentinels = env["REDIS_SENTINELS"].split(",")
        assert sentinels == [f"{h}:{p}" for h, p in stack.redis_ha.sentinels]
        assert env["REDIS_SENTINEL_MASTER"] == MASTER_NAME
        # REDIS_URL names the master at start, for what cannot use Sentinel.
        with redis.Redis.from_url(env["REDIS_URL"], decode_responses=True) as client:
            assert client.role()[0] == "master"
        assert (stack.root / "redis-ha" / "logs" / "sentinel-1.log").exists()
    finally:
        stack.stop()
    assert wait_gone(pids) == []
    assert not root.exists()


def test_the_default_profile_has_no_sentinels() -> None:
    urls = StackUrls(database_url="postgres://x/y", redis_url="redis://x")
    assert "REDIS_SENTINELS" not in urls.environ()


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("", False), ("0", False)]
)
def test_the_environment_asks_for_the_ha_profile(value: str, expected: bool) -> None:
    assert wants_redis_ha({"FASHIONISTAR_REDIS_HA": value}) is expected


def test_a_wrong_ha_switch_says_what_is_wrong() -> None:
    with pytest.raises(StackError, match="FASHIONISTAR_REDIS_HA='maybe' is not a boolean"):
        start_stack(environ={**NATIVE, "FASHIONISTAR_REDIS_HA": "maybe"})


def test_the_env_provider_carries_the_sentinels_through() -> None:
    urls = StackUrls(
        database_url="postgres://x/y",
        redis_url="redis://x:1/0",
        redis_sentinels=("a:1", "b:2", "c:3"),
        redis_sentinel_master="shop",
    )
    environ = {**urls.environ(), "FASHIONISTAR_REDIS_HA": "1"}
    found = start_stack(environ=environ)
    assert isinstance(found, EnvStack)
    assert found.urls == urls
    without = {"DATABASE_URL": "postgres://x/y", "REDIS_URL": "redis://x:1/0"}
    with pytest.raises(StackError, match="needs REDIS_SENTINELS"):
        start_stack(environ=without, redis_ha=True)


def test_a_killed_parent_leaves_no_ha_server() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fashionistar_dev.stack", "--redis-ha"],
        env={**os.environ, **NATIVE},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline()]
    while not lines[-1].startswith("export REDIS_SENTINEL_MASTER="):
        lines.append(process.stdout.readline())
        assert lines[-1], lines
    assert "Redis HA" in lines[0]
    servers = child_pids(process.pid)
    assert len(servers) == 8
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert wait_gone(servers) == []


def test_a_command_runs_with_the_ha_environment() -> None:
    code = "import os, sys; sys.exit(len(os.environ['REDIS_SENTINELS'].split(',')))"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fashionistar_dev.stack",
            "--redis-ha",
            "--",
            sys.executable,
            "-c",
            code,
        ],
        env={**os.environ, **NATIVE},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 3, result.stderr


def test_a_persistent_stack_starts_redis_ha_afresh_each_time() -> None:
    # Under /tmp, not pytest's tmp_path: the servers run as an unprivileged user.
    data_dir = Path(tempfile.mkdtemp(prefix="fashionistar-test-"))
    try:
        for expected in (None, None):
            stack = start_stack(data_dir=data_dir, environ=NATIVE, redis_ha=True)
            try:
                with redis.Redis.from_url(stack.urls.redis_url, decode_responses=True) as client:
                    assert client.get("kept?") == expected  # never kept: roles may have swapped
                    client.set("kept?", "yes")
            finally:
                stack.stop()
    finally:
        shutil.rmtree(data_dir)
