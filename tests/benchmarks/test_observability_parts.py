"""The observability's parts: worked out from the set-ups; the script run as a reader runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from observability_overhead import shipped_sampler
from observability_parts import (
    ALL_TRACED,
    DEPLOYED,
    OFF,
    SET_UPS,
    UNTRACED,
    UNTRACED_UNLOGGED,
    markdown,
    parts,
)

ROOT = Path(__file__).resolve().parents[2]
MEDIANS = {OFF: 1.0, DEPLOYED: 1.4, UNTRACED: 1.25, UNTRACED_UNLOGGED: 1.1, ALL_TRACED: 2.0}


def test_each_part_is_the_difference_of_two_set_ups() -> None:
    found = parts(MEDIANS)

    assert found == {
        "everything, as deployed": MEDIANS[DEPLOYED] - MEDIANS[OFF],
        "tracing, as deployed (1 request in 10)": MEDIANS[DEPLOYED] - MEDIANS[UNTRACED],
        "one traced request": MEDIANS[ALL_TRACED] - MEDIANS[UNTRACED],
        "the JSON log lines": MEDIANS[UNTRACED] - MEDIANS[UNTRACED_UNLOGGED],
        "the rest: request id, metrics, metered cache, CSP header": (
            MEDIANS[UNTRACED_UNLOGGED] - MEDIANS[OFF]
        ),
    }
    separate = sum(
        cost
        for name, cost in found.items()
        if name not in {"everything, as deployed", "one traced request"}
    )
    assert abs(separate - found["everything, as deployed"]) < 1e-9


def test_the_deployed_set_up_samples_as_the_deploy_files_do() -> None:
    assert SET_UPS[DEPLOYED].sampler_ratio == shipped_sampler()["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert SET_UPS[UNTRACED].sampler_ratio is None
    assert SET_UPS[ALL_TRACED].sampler_ratio == "1.0"
    assert "LOGGING = {}" in SET_UPS[UNTRACED_UNLOGGED].settings


def test_the_tables_show_each_rounds_range_and_each_part() -> None:
    runs = {name: [value, value + 0.1, value - 0.1] for name, value in MEDIANS.items()}

    text = markdown(runs, requests=3000)

    assert f"| {OFF} | 1.000 (0.900 to 1.100) | x1.00 |" in text
    assert f"| {ALL_TRACED} | 2.000 (1.900 to 2.100) | x2.00 |" in text
    assert "| the JSON log lines | 0.150 | 15.0% |" in text
    assert "3,000 requests per round after a warm-up, 3 rounds" in text


def test_a_quick_run_writes_both_tables(tmp_path: Path) -> None:
    written = tmp_path / "parts.md.txt"

    completed = subprocess.run(
        [sys.executable, "observability_parts.py", "--quick", "--markdown", str(written)],
        cwd=ROOT / "benchmarks",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    text = written.read_text()
    assert text.startswith("Taken ")
    for name in SET_UPS:
        assert f"| {name} | " in text
    for name in parts(MEDIANS):
        assert f"| {name} | " in text
    assert "1 round;" in text
