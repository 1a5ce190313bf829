"""A figure script runs again while its file says busy, and only then."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from common import BUSY
from until_quiet import run_until_quiet, taken_on_a_busy_machine

# Writes its --markdown file busy for as many runs as the counter file allows, then quiet.
FIGURE_SCRIPT = """
import sys
from pathlib import Path
runs, busy_runs, markdown = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[4])
done = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(done))
markdown.write_text(f"Taken now.{' ' + BUSY if done <= busy_runs else ''}\\n\\n| figures |\\n")
sys.exit(int(sys.argv[5]))
"""


def figure_script(tmp_path: Path) -> Path:
    script = tmp_path / "figures.py"
    script.write_text(f"BUSY = {BUSY!r}\n{FIGURE_SCRIPT}")
    return script


@pytest.mark.parametrize(
    ("busy_runs", "runs", "busy"),
    [(0, 1, False), (1, 2, False), (5, 3, True)],
    ids=["quiet at once", "quiet the second time", "busy every time: the last file kept"],
)
def test_a_figure_script_runs_again_while_its_file_says_busy(
    tmp_path: Path, busy_runs: int, runs: int, busy: bool
) -> None:
    counter, markdown = tmp_path / "runs", tmp_path / "figures.md.txt"
    script = [str(figure_script(tmp_path)), str(counter), str(busy_runs)]

    code = run_until_quiet([*script, "--markdown", str(markdown), "0"], attempts=3)

    assert code == 0
    assert int(counter.read_text()) == runs
    assert taken_on_a_busy_machine(markdown) is busy


def test_the_last_run_s_exit_code_is_passed_on(tmp_path: Path) -> None:
    markdown = tmp_path / "figures.md.txt"
    script = [str(figure_script(tmp_path)), str(tmp_path / "runs"), "0"]

    assert run_until_quiet([*script, "--markdown", str(markdown), "1"]) == 1


def test_a_script_that_wrote_no_file_counts_as_busy(tmp_path: Path) -> None:
    assert taken_on_a_busy_machine(tmp_path / "missing.md.txt")


def test_a_script_without_a_markdown_file_is_refused() -> None:
    with pytest.raises(ValueError, match="--markdown"):
        run_until_quiet([sys.executable, "-c", "pass"])
