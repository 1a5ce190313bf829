"""Exercise 13: carts on the master Sentinel names, through a real failover; no master is a 503."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from fashionistar_dev.processes import free_port
from fashionistar_dev.stack.redis_ha import (
    FAILOVER_TIMEOUT_S,
    RedisHA,
    probe_client,
    start_redis_ha,
)

PARTICIPANT_FILE = "carts.py"


@pytest.fixture(scope="module")
def ha() -> Iterator[RedisHA]:
    """A master, a replica and three Sentinels of their own (killed in the last test)."""
    with start_redis_ha() as ha:
        yield ha


@pytest.fixture
def through_sentinel(settings, ha) -> RedisHA:
    settings.REDIS_SENTINELS = [f"{host}:{port}" for host, port in ha.sentinels]
    settings.REDIS_SENTINEL_MASTER = ha.master_name
    return ha


def cart_on_master(ha: RedisHA, user_id: int) -> dict[bytes, bytes]:
    with probe_client(ha.master_address()) as master:
        return master.hgetall(f"cart:{user_id}")


def test_the_cart_is_on_the_master_the_sentinels_name(participant, through_sentinel) -> None:
    client = participant.cart_client()
    assert participant.cart_add(client=client, user_id=1, variant_id=7, quantity=2) == 2
    assert cart_on_master(through_sentinel, 1) == {b"7": b"2"}, (
        "the cart is not on the master the Sentinels name: cart_client() talks to another server"
    )


def test_with_no_redis_at_all_it_is_a_503(participant) -> None:
    nobody = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    try:
        participant.cart_add(client=nobody, user_id=1, variant_id=7, quantity=1)
    except participant.CartUnavailable as error:
        refused, leaked = error, ""
    except redis.RedisError as error:
        refused, leaked = None, type(error).__name__
    else:
        refused, leaked = None, ""
    assert not leaked, f"redis-py's {leaked} reached the caller: raise CartUnavailable"
    assert refused is not None, "no Redis answers, yet cart_add returned"
    assert (refused.status_code, refused.code) == (503, "cart_unavailable")


def test_the_same_client_carries_on_after_a_failover(participant, through_sentinel) -> None:
    client = participant.cart_client()
    participant.cart_add(client=client, user_id=2, variant_id=7, quantity=1)
    # WAIT blocks until the replica acknowledges (up to 5 s): longer than a probe's timeout.
    with redis.Redis(*through_sentinel.master_address(), socket_timeout=6) as master:
        assert master.execute_command("WAIT", 1, 5000) == 1  # the replica has it too

    through_sentinel.kill_master()
    deadline = time.monotonic() + FAILOVER_TIMEOUT_S
    while True:  # what a client of the API does with a 503: retry in a moment
        try:
            units = participant.cart_add(client=client, user_id=2, variant_id=7, quantity=3)
            break
        except participant.CartUnavailable:
            assert time.monotonic() < deadline, "no master took the cart in time"
            time.sleep(0.2)
    assert units == 4
    assert cart_on_master(through_sentinel, 2) == {b"7": b"4"}
