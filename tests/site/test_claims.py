"""Claims the claims ledger makes about the code, checked against the code.

Each test fails when the code changes so that the ledger's verdict no longer holds.
"""

from __future__ import annotations

import itertools

from django.conf import settings


def test_only_the_critical_queue_backs_off_exponentially() -> None:
    retry = settings.TASKS["default"]["OPTIONS"]["RETRY"]

    def doubles(waits: list[int]) -> bool:
        return all(later == 2 * earlier for earlier, later in itertools.pairwise(waits))

    assert {queue: options["max"] for queue, options in retry.items()} == {
        "emails": 3,
        "critical": 3,
        "analytics": 3,
    }
    assert doubles(retry["critical"]["intervals"])
    assert not doubles(retry["emails"]["intervals"])
    assert not doubles(retry["analytics"]["intervals"])
