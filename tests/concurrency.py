"""Run work in real threads released at the same moment: the tests' and benchmarks' race maker.

Each thread has its own database connection (through PgBouncer), closed when its work ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connection

from fashionistar.kernel.errors import ApplicationError


def run_concurrently(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` in ``count`` threads released at the same moment; collect results.

    An :class:`ApplicationError` is a result (the refusal the race is about); anything else
    raised propagates.
    """
    barrier = threading.Barrier(count)

    def attempt(index: int) -> object:
        barrier.wait()
        try:
            return work(index)
        except ApplicationError as error:
            return error
        finally:
            close_old_connections()
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))
