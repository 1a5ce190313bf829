"""``make lint`` passes: ruff (rules and format), the import contracts, mypy over ``src/``.

A test rather than a step before the tests: it shares the cores with the others instead of
keeping them waiting.
"""

from __future__ import annotations

import subprocess

from tests.processes import ROOT


def test_make_lint_passes() -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "lint"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
