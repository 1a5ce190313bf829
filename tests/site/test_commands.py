"""Every command a page or the README shows is one its tool accepts, and selects what it says.

A reader copies ``uv run python benchmarks/faults.py --runs 5`` or ``uv run pytest ... -k ...``
from a page as it is. Each command shown (in a fence or in backticks) is checked without running
what it does:

- ``make TARGET VAR=...``: the Makefile has the target and reads each variable; ``PAGE=`` names a
  page that exists, ``SERVE_ARGS=`` holds options the serve command accepts;
- ``uv run python SCRIPT ARGS`` and ``uv run python -m MODULE ARGS``: the script's own argument
  parser accepts the arguments (the script runs until it has parsed them, then stops);
- ``uv run pytest ARGS``: pytest collects at least one test under each path the command names,
  with the command's own ``-k``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
COMMAND = re.compile(r"(?:^[ \t]*|`)((?:uv run (?:python|pytest)|make) [^`\n#]*)", re.MULTILINE)
PLACEHOLDER = re.compile(r"\[|\.\.\.|path/to/")
"""A command with a slot for the reader to fill (``[queue ...]``, ``PAGE=...``) is a pattern."""
PARSED_ONLY = """
import argparse, runpy, sys
parse = argparse.ArgumentParser.parse_args
def parse_then_stop(self, *args, **kwargs):
    parse(self, *args, **kwargs)  # exits 2 with the parser's message on a bad argument
    raise SystemExit(0)
argparse.ArgumentParser.parse_args = parse_then_stop
target, *arguments = sys.argv[1:]
if target.endswith(".py"):
    sys.argv = [target, *arguments]
    sys.path.insert(0, str(__import__("pathlib").Path(target).parent))
    runpy.run_path(target, run_name="__main__")
else:
    sys.argv = [target, *arguments]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
raise SystemExit("the command never parsed its arguments")
"""


@dataclass(frozen=True)
class Shown:
    """A command as a page shows it."""

    source: str
    command: str

    @property
    def words(self) -> list[str]:
        """The command's words, as a shell splits them."""
        return shlex.split(self.command)

    def __str__(self) -> str:
        """Return ``source: command``."""
        return f"{self.source}: {self.command}"


def shown_commands() -> list[Shown]:
    """Every command of the pages and the README, without fill-in patterns, once each.

    Returns:
        The commands, each with the first page that shows it.
    """
    found: dict[str, Shown] = {}
    for source in SOURCES:
        for match in COMMAND.finditer(source.read_text()):
            command = " ".join(match.group(1).split())
            if not PLACEHOLDER.search(command):
                found.setdefault(command, Shown(str(source.relative_to(ROOT)), command))
    return list(found.values())


COMMANDS = shown_commands()
MAKE = [shown for shown in COMMANDS if shown.words[0] == "make"]
PYTHON = [shown for shown in COMMANDS if shown.words[:3] == ["uv", "run", "python"]]
PYTEST = [shown for shown in COMMANDS if shown.words[:3] == ["uv", "run", "pytest"]]


def parses(target: str, arguments: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a script or module until its argument parser has read the arguments.

    Args:
        target: A ``.py`` path from the repository's root, or a module.
        arguments: Its arguments.

    Returns:
        The finished process: 0 when the parser accepted them.
    """
    return subprocess.run(
        [sys.executable, "-c", PARSED_ONLY, target, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_pages_show_commands_of_each_kind() -> None:
    assert len(MAKE) > 5
    assert len(PYTHON) > 5
    assert len(PYTEST) > 5


@pytest.mark.parametrize("shown", MAKE, ids=str)
def test_a_make_command_names_a_target_and_variables_of_the_makefile(shown: Shown) -> None:
    makefile = (ROOT / "Makefile").read_text()
    target, *assignments = shown.words[1:]
    assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), shown
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        assert f"$({name})" in makefile, shown
        if name == "PAGE":
            assert (ROOT / value).is_file(), shown
        if name == "SERVE_ARGS":
            answer = parses("fashionistar_dev.serve", shlex.split(value))
            assert answer.returncode == 0, f"{shown}\n{answer.stderr}"


@pytest.mark.parametrize("shown", PYTHON, ids=str)
def test_a_python_command_is_accepted_by_its_parser(shown: Shown) -> None:
    words = shown.words[3:]
    if words[0] == "-m":
        target, arguments = words[1], words[2:]
    else:
        target, arguments = words[0], words[1:]
        if target == "manage.py":
            pytest.skip("Django's own commands parse their arguments once settings are loaded")
    answer = parses(target, arguments)
    assert answer.returncode == 0, f"{shown}\n{answer.stderr}"


@pytest.mark.parametrize("shown", PYTEST, ids=str)
def test_a_pytest_command_collects_tests_under_every_path_it_names(shown: Shown) -> None:
    arguments = shown.words[3:]
    paths = [word for word in arguments if not word.startswith("-") and (ROOT / word).exists()]
    answer = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--no-cov", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    collected = [line for line in answer.stdout.splitlines() if "::" in line]
    assert answer.returncode == 0, f"{shown}\n{answer.stdout}\n{answer.stderr}"
    assert collected, shown
    for path in paths:
        assert any(line.startswith(path) for line in collected), f"{shown}: nothing from {path}"
