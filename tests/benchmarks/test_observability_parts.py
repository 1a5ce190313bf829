"""The observability's parts: worked out from the set-ups; the script run as a reader runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from common import prepared_stack
from observability_overhead import otlp_collector, shipped_sampler
from observability_parts import (
    ALL_TRACED,
    DEPLOYED,
    NONE_TRACED,
    OFF,
    ONE_IN,
    SERVED,
    SET_UPS,
    UNTRACED,
    UNTRACED_UNLOGGED,
    at_ratios,
    cpu_ms_per_request,
    instructions_in,
    markdown,
    parts,
)

ROOT = Path(__file__).resolve().parents[2]
MEDIANS = {
    OFF: 1.0,
    DEPLOYED: 1.4,
    UNTRACED: 1.25,
    UNTRACED_UNLOGGED: 1.1,
    NONE_TRACED: 1.3,
    ALL_TRACED: 2.0,
}


def test_each_part_is_the_difference_of_two_set_ups() -> None:
    found = parts(MEDIANS)

    assert found == {
        "everything, as deployed": MEDIANS[DEPLOYED] - MEDIANS[OFF],
        f"tracing, as deployed (1 request in {ONE_IN})": MEDIANS[DEPLOYED] - MEDIANS[UNTRACED],
        "one dropped request": MEDIANS[NONE_TRACED] - MEDIANS[UNTRACED],
        "one traced request": MEDIANS[ALL_TRACED] - MEDIANS[UNTRACED],
        "the JSON log lines": MEDIANS[UNTRACED] - MEDIANS[UNTRACED_UNLOGGED],
        "the rest: request id, metrics, metered cache": (MEDIANS[UNTRACED_UNLOGGED] - MEDIANS[OFF]),
    }
    separate = sum(
        cost
        for name, cost in found.items()
        if name not in {"everything, as deployed", "one dropped request", "one traced request"}
    )
    assert abs(separate - found["everything, as deployed"]) < 1e-9


def test_the_cost_at_a_ratio_is_the_decision_for_all_and_the_spans_for_the_share_traced() -> None:
    costs = at_ratios(MEDIANS)

    assert costs[1.0] == pytest.approx(MEDIANS[ALL_TRACED] - MEDIANS[OFF])
    assert costs[0.0] == pytest.approx(MEDIANS[NONE_TRACED] - MEDIANS[OFF])
    assert costs[0.1] == pytest.approx(0.3 + 0.1 * 0.7)
    assert float(shipped_sampler()["OTEL_TRACES_SAMPLER_ARG"]) in costs
    assert list(costs) == sorted(costs, reverse=True)


def test_the_deployed_set_up_samples_as_the_deploy_files_do() -> None:
    assert SET_UPS[DEPLOYED].sampler_ratio == shipped_sampler()["OTEL_TRACES_SAMPLER_ARG"] == "0.05"
    assert SET_UPS[UNTRACED].sampler_ratio is None
    assert SET_UPS[NONE_TRACED].sampler_ratio == "0.0"
    assert SET_UPS[ALL_TRACED].sampler_ratio == "1.0"
    assert "LOGGING = {}" in SET_UPS[UNTRACED_UNLOGGED].settings


def test_the_tables_show_each_rounds_range_and_each_part() -> None:
    runs = {name: [value, value + 0.1, value - 0.1] for name, value in MEDIANS.items()}

    text = markdown(runs, requests=3000)

    assert f"| {OFF} | 1.000 (0.900 to 1.100) | x1.00 |" in text
    assert f"| {ALL_TRACED} | 2.000 (1.900 to 2.100) | x2.00 |" in text
    assert "| the JSON log lines | 0.150 | 15.0% |" in text
    assert "3,000 requests per round after a warm-up, 3 rounds" in text
    assert "| every request | 1.000 | 100.0% |" in text
    assert "| 1 in 100 | 0.307 | 30.7% |" in text
    ratio = float(shipped_sampler()["OTEL_TRACES_SAMPLER_ARG"])
    assert f"| 1 in {round(1 / ratio)} (the deploy files) |" in text


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_a_quick_run_writes_both_tables(interface: str, tmp_path: Path) -> None:
    written = tmp_path / "parts.md.txt"

    completed = subprocess.run(
        [
            sys.executable,
            "observability_parts.py",
            "--quick",
            "--interface",
            interface,
            "--markdown",
            str(written),
        ],
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
    assert "1 round, their log lines written and spans sent;" in text
    assert f"{SERVED[interface]} in one process per set-up" in text


def test_counted_tables_show_thousands_of_instructions_and_no_range() -> None:
    counts = {name: [value * 3_000_000] for name, value in MEDIANS.items()}

    text = markdown(counts, requests=1000, counting=True)

    assert f"| {OFF} | 3,000 k | x1.00 |" in text
    assert "| the JSON log lines | 450 k | 15.0% |" in text
    assert "share of the list's instructions with it off" in text
    assert "counted by valgrind's callgrind" in text


@pytest.mark.parametrize("line", ["summary: 123456789", "totals: 123456789"])
def test_the_count_is_read_from_a_callgrind_dump(line: str, tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_text(f"version: 1\ncmd: python -c ...\nevents: Ir\n{line}\n")

    assert instructions_in(dump) == 123456789


def test_a_dump_without_a_count_is_refused(tmp_path: Path) -> None:
    dump = tmp_path / "callgrind.out.1"
    dump.write_text("version: 1\n")

    with pytest.raises(ValueError, match="no instruction count"):
        instructions_in(dump)


def test_the_shop_answers_under_callgrind_and_its_requests_are_counted(tmp_path: Path) -> None:
    with prepared_stack(demo_stock=10) as env, otlp_collector() as endpoint:
        per_request = cpu_ms_per_request(
            SET_UPS[OFF],
            env=env,
            endpoint=endpoint,
            folder=tmp_path,
            requests=5,
            warmup=2,
            counting=True,
        )

    # The warm-up and Django's start are not counted: a request is millions, not billions.
    assert 1_000_000 < per_request < 20_000_000
