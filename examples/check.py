"""How far you are in the workshop: ``uv run python examples/check.py``.

Starts a throwaway PostgreSQL + PgBouncer + Redis (``fashionistar_dev.stack``), runs every
exercise's test in one pytest run against your files in ``start/`` (or the references,
``--against solution``), and prints, per exercise, PASS or FAIL with the first check that
failed, then how many are done. The exit code is 0 only when every exercise checked passed.

    uv run python examples/check.py                      # every exercise: "7 of 15 done"
    uv run python examples/check.py --exercise 03        # one exercise, with tracebacks
    uv run python examples/check.py --against solution   # the references (all pass)
    uv run python examples/check.py --reset 03           # exercise 03's start/ as the clone has it
    uv run python examples/check.py --exercise 03 -- -x -vv   # pytest arguments after --

Loaded by pytest as a plugin too (``-p check``): it then writes each test's outcome, and the
first line of its failure, to the file ``FASHIONISTAR_CHECK_REPORT`` names.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent
AGAINST_VARIABLE = "FASHIONISTAR_EXERCISE_AGAINST"  # read by examples/conftest.py
REPORT_VARIABLE = "FASHIONISTAR_CHECK_REPORT"


def exercises() -> dict[str, Path]:
    """The exercise folders, by number (``03-gather-partners`` is ``03``)."""
    return {
        path.name[:2]: path
        for path in sorted(EXAMPLES.iterdir())
        if path.is_dir() and path.name[:2].isdigit() and (path / "README.md").is_file()
    }


# --- the pytest plugin: one line per test in a JSON file ----------------------------------

_outcomes: dict[str, dict[str, str]] = {}


def _first_line(report: Any) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "failed"


def pytest_runtest_logreport(report: Any) -> None:
    """Keep a test's outcome: passed, or failed with the first line of why (any phase)."""
    if report.failed and _outcomes.get(report.nodeid, {}).get("outcome") != "failed":
        _outcomes[report.nodeid] = {"outcome": "failed", "message": _first_line(report)}
    elif report.when == "call" and report.passed:
        _outcomes.setdefault(report.nodeid, {"outcome": "passed", "message": ""})


def pytest_collectreport(report: Any) -> None:
    """Keep a test file that could not be collected, as a failure of that file."""
    if report.failed:
        _outcomes[report.nodeid] = {"outcome": "failed", "message": _first_line(report)}


def pytest_sessionfinish() -> None:
    """Write the outcomes, in the order the tests ran."""
    if path := os.environ.get(REPORT_VARIABLE):
        Path(path).write_text(json.dumps(_outcomes))


# --- the command ----------------------------------------------------------------------------


@dataclass
class Verdict:
    """One exercise's result: passed, or the first test that failed and why."""

    passed: bool
    test: str = ""
    message: str = ""


def parse(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--exercise",
        action="append",
        metavar="NN",
        help="check only this exercise (repeat for several); all of them by default",
    )
    parser.add_argument(
        "--against",
        choices=("start", "solution"),
        default="start",
        help="your start/ folders (default) or the reference solution/ folders",
    )
    parser.add_argument(
        "--reset",
        nargs="+",
        metavar="NN",
        help="restore these exercises' start/ folders from git (HEAD), or 'all'",
    )
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.pytest_args = argv[split + 1 :]  # what follows "--" goes to pytest
    return args


def verdicts_of(
    outcomes: dict[str, dict[str, str]], folders: dict[str, Path]
) -> dict[str, Verdict]:
    """Group the tests' outcomes by exercise: a pass needs a test run and none failed."""
    verdicts = {}
    for number, folder in folders.items():
        mine = {
            node: outcome
            for node, outcome in outcomes.items()
            if node.startswith(f"examples/{folder.name}/")
        }
        failed = [(node, o["message"]) for node, o in mine.items() if o["outcome"] == "failed"]
        if failed:
            node, message = failed[0]
            verdicts[number] = Verdict(
                False, node.removeprefix(f"examples/{folder.name}/"), message
            )
        elif not mine:
            verdicts[number] = Verdict(False, "(no test ran)", "see pytest's output above")
        else:
            verdicts[number] = Verdict(True)
    return verdicts


def run_exercises(
    folders: dict[str, Path], *, against: str, environ: dict[str, str], extra: list[str]
) -> dict[str, Verdict]:
    """Run the exercises' tests in one pytest run; return each exercise's verdict."""
    # One exercise: short tracebacks, with the log lines in pytest's format (the JSON lines the
    # shop writes to standard output would drown them). All of them: the summary says enough.
    report_options = ["--tb=short", "--show-capture=log"] if len(folders) == 1 else ["--tb=no"]
    # This file is the plugin (-p check): its folder goes first on the import path.
    python_path = os.pathsep.join(filter(None, [str(EXAMPLES), environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "outcomes.json"
        subprocess.run(
            [
                sys.executable, "-m", "pytest", "-q", *report_options, "-p", "no:randomly",
                "-p", "check", *(str(folder.relative_to(ROOT)) for folder in folders.values()),
                *extra,
            ],
            cwd=ROOT,
            env={
                **environ,
                AGAINST_VARIABLE: against,
                REPORT_VARIABLE: str(report),
                "PYTHONPATH": python_path,
            },
            check=False,
        )  # fmt: skip
        outcomes = json.loads(report.read_text()) if report.is_file() else {}
    return verdicts_of(outcomes, folders)


def reset(numbers: list[str], known: dict[str, Path]) -> int:
    """Restore exercises' ``start/`` folders as the last commit has them (edits are lost)."""
    folders = list(known.values()) if numbers == ["all"] else [known[n] for n in numbers]
    paths = [str((folder / "start").relative_to(ROOT)) for folder in folders]
    result = subprocess.run(
        ["git", "restore", "--source=HEAD", "--staged", "--worktree", "--", *paths],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        print(f"could not reset (is this a git clone?): {result.stderr.strip()}")
        return 1
    for path in paths:
        print(f"reset {path}/")
    return 0


def main(argv: list[str]) -> int:
    """Start a stack, check the exercises, print a verdict per exercise and the count done."""
    args = parse(argv)
    known = exercises()
    asked = args.reset or args.exercise or []
    numbers = [n.zfill(2) for n in asked if n != "all"]
    unknown = [n for n in numbers if n not in known]
    if unknown:
        print(f"unknown exercise {', '.join(unknown)}; there are {', '.join(known)}")
        return 2
    if args.reset:
        return reset(numbers if numbers else ["all"], known)
    from fashionistar_dev.stack import running_stack

    chosen = {number: known[number] for number in (numbers or known)}
    with running_stack() as stack:
        environ = {**os.environ, **stack.urls.environ()}
        environ.setdefault("DJANGO_SECRET_KEY", "workshop-only-not-a-secret-" + "x" * 30)
        verdicts = run_exercises(
            chosen, against=args.against, environ=environ, extra=args.pytest_args
        )
    print()
    for number, verdict in verdicts.items():
        print(f"{chosen[number].name}: {'PASS' if verdict.passed else 'FAIL'}")
        if not verdict.passed:
            print(f"    first failing check: {verdict.test}")
            print(f"    {verdict.message}")
    done = sum(verdict.passed for verdict in verdicts.values())
    print(f"{done} of {len(verdicts)} done (against {args.against}/)")
    return 0 if done == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
