"""Every workshop exercise passes against its reference solution and fails against its start.

``examples/check.py`` starts its own throwaway stack (it must not share this run's database),
so the stack's variables of this run are left out of its environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashionistar_dev.stack import RunningStack

ROOT = Path(__file__).resolve().parents[2]
EXERCISES = sorted(p.name for p in (ROOT / "examples").iterdir() if (p / "solution").is_dir())


def check(against: str, stack: RunningStack) -> subprocess.CompletedProcess[str]:
    own = {*stack.urls.environ(), "FASHIONISTAR_STACK"}
    env = {name: value for name, value in os.environ.items() if name not in own}
    return subprocess.run(
        [sys.executable, "examples/check.py", "all", "--against", against],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_there_are_at_least_three_exercises_each_complete() -> None:
    assert len(EXERCISES) >= 3
    for name in EXERCISES:
        folder = ROOT / "examples" / name
        assert (folder / "README.md").is_file()
        assert list((folder / "start").glob("*.py")), f"{name}: no start file"
        starts = {p.name for p in (folder / "start").glob("*.py")}
        assert starts == {p.name for p in (folder / "solution").glob("*.py")}
        assert list(folder.glob("test_*.py")), f"{name}: no test"


@pytest.mark.parametrize(
    ("against", "verdict", "code"), [("solution", "PASS", 0), ("start", "FAIL", 1)]
)
def test_every_exercise_checks_its_solution_and_refuses_its_start(
    stack: RunningStack, against: str, verdict: str, code: int
) -> None:
    result = check(against, stack)
    print(result.stdout[-3000:], result.stderr[-3000:])
    assert result.returncode == code
    for name in EXERCISES:
        assert f"exercise {name} against {against}/: {verdict}" in result.stdout
