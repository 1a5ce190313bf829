"""Each server entry point freezes the heap it starts with, after one collection."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COUNT_AFTER_IMPORT = """
import gc, importlib, sys
importlib.import_module(sys.argv[1])
print(gc.get_freeze_count(), len(gc.get_objects()))
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
    assert still_walked == 0  # a full collection starts from nothing
