"""The benchmark scripts run from ``benchmarks/`` (``python benchmarks/run_all.py``), which puts
that folder first on the path; the tests import them the same way."""

import sys
from pathlib import Path

import pytest

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")
if BENCHMARKS not in sys.path:
    sys.path.insert(0, BENCHMARKS)


@pytest.fixture(autouse=True)
def loop_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Give each test an empty loop reference: none reads or records the published one."""
    import common  # from BENCHMARKS

    reference = tmp_path / "loop-reference.json"
    monkeypatch.setattr(common, "LOOP_REFERENCE", reference)
    return reference
