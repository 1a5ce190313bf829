"""The benchmark harness runs end to end (``run_all.py --quick``), so it cannot rot.

Only that every scenario produced figures and that the results, tables and plots were written
is checked: speed is never asserted in a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from numbers import Number
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ("server", "gather", "apis", "connections", "baselines", "tasks")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def numbers(tree: object) -> list[float]:
    """Every number in a JSON tree."""
    if isinstance(tree, dict):
        return [n for value in tree.values() for n in numbers(value)]
    if isinstance(tree, list):
        return [n for value in tree for n in numbers(value)]
    return [float(tree)] if isinstance(tree, Number) and not isinstance(tree, bool) else []


def test_quick_run_writes_figures_tables_and_plots(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run_all.py"),
            "--quick",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "done: results, tables and plots" in completed.stdout  # the progress display

    report = json.loads((tmp_path / "results.json").read_text())
    assert report["mode"] == "quick"
    assert report["machine"]["cores"] >= 1
    assert set(report["results"]) == set(SCENARIOS)
    for name in SCENARIOS:
        assert numbers(report["results"][name]), name
        table = (tmp_path / f"{name}.md.txt").read_text()
        assert table.startswith(("|", "**")), name
        assert (tmp_path / f"{name}.png").read_bytes().startswith(PNG_SIGNATURE), name

    # Every load run got answers, and every verdict says one of the four words.
    runs = [report["results"]["apis"][workload] for workload in ("cpu", "io")]
    assert all(run["requests"] > 0 for group in runs for run in group.values())
    verdicts = {item["verdict"] for item in report["verdicts"]}
    assert verdicts <= {"confirmed", "refuted", "conditional", "not applicable"}
    assert (tmp_path / "verdicts.md.txt").read_text().count("\n") == len(report["verdicts"]) + 2
    assert "cores" in (tmp_path / "run.md.txt").read_text()
