"""The profile's sampler: which layer a stack is busy in, which stacks only wait, and readings
that come wherever the request is, not only where it gives the GIL up."""

from __future__ import annotations

import time

from profile_request import (
    DATABASE,
    HOPS,
    OTHER,
    REDIS,
    SERIALIZATION,
    VIEW,
    Frame,
    Sampler,
    classify,
    layer_of,
    package_of,
    pick,
)


def frame(module: str, function: str = "run", file: str = "x.py") -> Frame:
    """A frame of a module."""
    return Frame(module, file, function)


def test_the_longest_module_prefix_decides_the_layer() -> None:
    assert layer_of("django.db.models.query") == DATABASE
    assert layer_of("psycopg.cursor") == DATABASE
    assert layer_of("rest_framework.serializers") == SERIALIZATION
    assert layer_of("rest_framework.views") == VIEW
    assert layer_of("rest_framework.throttling") == REDIS
    assert layer_of("django.utils.functional") is None  # works for its caller
    assert layer_of("some_unknown_package") is None


def test_a_helper_frame_counts_for_the_layer_that_called_it() -> None:
    stack = [
        frame("django.utils.functional"),
        frame("copy"),
        frame("django.db.models.sql.compiler"),
        frame("rest_framework.generics"),
    ]
    assert classify(stack) == (DATABASE, "django.utils")


def test_a_throttle_anywhere_inside_the_stack_is_a_redis_cost() -> None:
    stack = [
        frame("fashionistar.kernel.apis.drf", "RateThrottle.allow_request"),
        frame("rest_framework.views"),
    ]
    assert classify(stack) == (REDIS, "fashionistar.kernel")


def test_threads_waiting_for_another_thread_are_not_counted() -> None:
    waiting = [
        [frame("threading", "Condition.wait", "threading.py"), frame("queue", "Queue.get")],
        [frame("selectors", "EpollSelector.select", "selectors.py"), frame("asyncio.base_events")],
        [frame("concurrent.futures.thread", "_worker", "thread.py")],
    ]
    assert [classify(stack) for stack in waiting] == [None, None, None]
    assert classify([]) is None


def test_a_thread_hop_and_the_event_loop_are_layers_of_their_own() -> None:
    assert classify([frame("asgiref.sync", "SyncToAsync.__call__")]) == (HOPS, "asgiref")
    assert classify([frame("asyncio.events", "Handle._run")]) == (OTHER, "asyncio")


def test_packages_are_two_levels_deep_for_django_drf_ninja_and_the_shop() -> None:
    assert package_of("django.db.models.query") == "django.db"
    assert package_of("fashionistar.catalog.selectors") == "fashionistar.catalog"
    assert package_of("psycopg.cursor") == "psycopg"


def test_waking_the_event_loop_up_from_a_thread_is_a_thread_hop() -> None:
    handing_back = [
        frame("asyncio.selector_events", "BaseSelectorEventLoop._write_to_self"),
        frame("asyncio.base_events", "BaseEventLoop.call_soon_threadsafe"),
        frame("concurrent.futures.thread", "_WorkItem.run"),
    ]
    assert classify(handing_back) == (HOPS, "asyncio")
    woken = [frame("asyncio.selector_events", "BaseSelectorEventLoop._read_from_self")]
    assert classify(woken) == (HOPS, "asyncio")


def test_a_reading_counts_the_thread_doing_the_work_over_one_handing_it_over() -> None:
    assert pick([(HOPS, "asyncio"), (REDIS, "redis"), (OTHER, "asyncio")]) == (REDIS, "redis")
    assert pick([(OTHER, "asyncio"), (HOPS, "asgiref")]) == (HOPS, "asgiref")


def busy_for(seconds: float) -> None:
    """Compute, never giving the GIL up of its own accord."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


def test_the_sampler_reads_a_thread_that_computes_without_waiting() -> None:
    with Sampler() as sampler:
        busy_for(0.2)
    # A reading every millisecond: a sampling thread got few here, waiting for the GIL.
    assert sum(sampler.counts.values()) > 50
