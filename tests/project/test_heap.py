"""Each server entry point freezes the heap it starts with, after one collection."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# The log writer's thread wakes on an interval and makes a list or two while it runs:
# the fewest objects over a few readings is what start-up left for a full pass.
COUNT_AFTER_IMPORT = """
import gc, importlib, sys, time
importlib.import_module(sys.argv[1])
fewest = sys.maxsize  # an int: not an object the collector tracks, as a list would be
for _ in range(20):
    fewest = min(fewest, len(gc.get_objects()))
    time.sleep(0.005)
print(gc.get_freeze_count(), fewest)
print(*(f"{type(alive).__name__}: {alive!r:.200}" for alive in gc.get_objects()), file=sys.stderr)
"""


@pytest.mark.parametrize("entry_point", ["fashionistar.project.asgi", "fashionistar.project.wsgi"])
def test_a_server_process_starts_with_its_heap_frozen(entry_point: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", COUNT_AFTER_IMPORT, entry_point],
        env=os.environ,
        capture_output=True,
        text=True,
        check=True,
    )
    frozen, still_walked = map(int, finished.stdout.split())
    assert frozen > 10_000  # Django, the apps, their libraries
    assert still_walked == 0, finished.stderr  # a full collection starts from nothing
