"""Check workshop exercises against the real stack: ``uv run python examples/check.py 01``.

Starts a throwaway PostgreSQL + PgBouncer + Redis (``fashionistar_dev.stack``), runs the chosen
exercises' tests in one pytest run against the participant's files (``start/``, the default) or
the references (``--against solution``), and says PASS or FAIL for each exercise. The exit code
is 0 when every exercise passed.

    uv run python examples/check.py 01              # your work on exercise 01
    uv run python examples/check.py all --against solution
    uv run python examples/check.py 02 -- -x -vv    # extra pytest arguments after --
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent
AGAINST_VARIABLE = "FASHIONISTAR_EXERCISE_AGAINST"  # read by examples/conftest.py


def exercises() -> dict[str, Path]:
    """The exercise folders, by number (``01-selector-prefetch`` is ``01``)."""
    return {
        path.name[:2]: path
        for path in sorted(EXAMPLES.iterdir())
        if path.is_dir() and path.name[:2].isdigit() and (path / "README.md").is_file()
    }


def parse(argv: list[str]) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("numbers", nargs="+", help="exercise numbers (01, 02, ...) or 'all'")
    parser.add_argument(
        "--against",
        choices=("start", "solution"),
        default="start",
        help="the participant's start/ folder (default) or the reference solution/",
    )
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    args.pytest_args = argv[split + 1 :]  # what follows "--" goes to pytest
    return args


def run_exercises(
    folders: dict[str, Path], *, against: str, environ: dict[str, str], extra: list[str]
) -> dict[str, bool]:
    """Run the exercises' tests in one pytest run; return, by number, whether each passed."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.xml"
        pytest = [sys.executable, "-m", "pytest", "-q", "--tb=short", "-p", "no:randomly"]
        subprocess.run(
            [*pytest, f"--junitxml={report}", *map(str, folders.values()), *extra],
            cwd=ROOT,
            env={**environ, AGAINST_VARIABLE: against},
            check=False,
        )
        failed = {
            case.get("file", "") or case.get("classname", "").replace(".", "/")
            for case in ElementTree.parse(report).iter("testcase")
            if case.find("failure") is not None or case.find("error") is not None
        }
        ran = {
            case.get("file", "") or case.get("classname", "").replace(".", "/")
            for case in ElementTree.parse(report).iter("testcase")
        }
    return {
        number: any(folder.name in name for name in ran)
        and not any(folder.name in name for name in failed)
        for number, folder in folders.items()
    }


def main(argv: list[str]) -> int:
    """Start a stack, check the exercises, print one verdict line each."""
    from fashionistar_dev.stack import running_stack

    args = parse(argv)
    known = exercises()
    numbers = list(known) if args.numbers == ["all"] else [n.zfill(2) for n in args.numbers]
    unknown = [n for n in numbers if n not in known]
    if unknown:
        print(f"unknown exercise {', '.join(unknown)}; there are {', '.join(known)}")
        return 2
    with running_stack() as stack:
        environ = {**os.environ, **stack.urls.environ()}
        environ.setdefault("DJANGO_SECRET_KEY", "workshop-only-not-a-secret-" + "x" * 30)
        verdicts = run_exercises(
            {number: known[number] for number in numbers},
            against=args.against,
            environ=environ,
            extra=args.pytest_args,
        )
    for number, passed in verdicts.items():
        word = "PASS" if passed else "FAIL"
        print(f"exercise {known[number].name} against {args.against}/: {word}")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
