"""The workshop keeps its word: every solution passes, every start fails as its README says.

``examples/check.py`` runs the exercises' tests in one pytest process per folder kind
(``solution/``, then ``start/``). Both runs share one stack of their own, started here: the
exercises' transactional tests empty the tables, so they must not touch this run's database.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fashionistar_dev.stack import RunningStack, running_stack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXERCISES = sorted(
    path.name
    for path in EXAMPLES.iterdir()
    if path.is_dir() and path.name[:2].isdigit() and (path / "README.md").is_file()
)
PRINCIPLES_AND_RECOMMENDATIONS = 15
LINK = re.compile(r"\]\(([^)\s]+)\)")
FIRST_FAILURE = re.compile(
    r"^## The first failing check you will see\n.*?```text\n(.*?)```", re.M | re.S
)


def first_failure_quoted(name: str) -> list[str]:
    """The lines the exercise's README says the check prints for the untouched start."""
    match = FIRST_FAILURE.search((EXAMPLES / name / "README.md").read_text())
    assert match, f"{name}/README.md quotes no first failing check"
    return match[1].rstrip("\n").splitlines()


@pytest.fixture(scope="module")
def workshop_environ(stack: RunningStack) -> Iterator[dict[str, str]]:
    """The environment of the check command: this run's variables, another stack's URLs."""
    own = {*stack.urls.environ(), "FASHIONISTAR_STACK"}
    environ = {name: value for name, value in os.environ.items() if name not in own}
    with running_stack(environ=environ) as workshop:
        yield {**environ, **workshop.urls.environ()}


def check(environ: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "examples/check.py", *arguments],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_one_exercise_per_principle_and_recommendation_each_complete() -> None:
    assert [name[:2] for name in EXERCISES] == [
        f"{n:02}" for n in range(1, PRINCIPLES_AND_RECOMMENDATIONS + 1)
    ]
    for name in EXERCISES:
        folder = EXAMPLES / name
        starts = sorted(p.name for p in (folder / "start").iterdir() if p.is_file())
        solutions = sorted(p.name for p in (folder / "solution").iterdir() if p.is_file())
        assert starts, f"{name}: nothing in start/"
        assert starts == solutions, f"{name}: start/ and solution/ hold different files"
        (test,) = folder.glob("test_*.py")
        participant_file = re.search(r'^PARTICIPANT_FILE = "(.+)"$', test.read_text(), re.M)
        assert participant_file, f"{test.name} names no PARTICIPANT_FILE"
        assert participant_file[1] in starts
        readme = (folder / "README.md").read_text()
        for part in ("**Learning objective.**", "**Expected duration:** about ", "## Hints"):
            assert part in readme, f"{name}/README.md has no {part!r}"
        assert f"uv run python examples/check.py --exercise {name[:2]}\n" in readme
        assert f"uv run python examples/check.py --reset {name[:2]}\n" in readme
        assert first_failure_quoted(name)[0] == f"{name}: FAIL"


def test_every_solution_passes(workshop_environ: dict[str, str]) -> None:
    result = check(workshop_environ, "--against", "solution")
    print(result.stdout[-5000:], result.stderr[-3000:])
    lines = result.stdout.splitlines()
    assert [name for name in EXERCISES if f"{name}: PASS" not in lines] == []
    assert f"{len(EXERCISES)} of {len(EXERCISES)} done (against solution/)" in lines
    assert result.returncode == 0


def test_every_start_fails_with_the_first_check_its_readme_quotes(
    workshop_environ: dict[str, str],
) -> None:
    result = check(workshop_environ)  # the participants' start/ folders, untouched
    print(result.stdout[-8000:], result.stderr[-3000:])
    printed = "\n".join(line.rstrip() for line in result.stdout.splitlines())
    differ = [name for name in EXERCISES if "\n".join(first_failure_quoted(name)) not in printed]
    assert differ == [], "the check printed another first failure than the README quotes"
    assert f"0 of {len(EXERCISES)} done (against start/)" in printed.splitlines()
    assert result.returncode == 1


def heading_anchors(page: Path) -> set[str]:
    """The anchors of a Markdown page's headings, as GitHub and MkDocs spell them."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {
        re.sub(r"[^\w\- ]", "", heading.lower()).strip().replace(" ", "-") for heading in headings
    }


def test_every_link_in_the_examples_readmes_resolves() -> None:
    problems = []
    for readme in sorted(EXAMPLES.rglob("*.md")):
        for target in LINK.findall(readme.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # another site
            path, _, anchor = target.partition("#")
            resolved = (readme.parent / path).resolve()
            if not resolved.exists():
                problems.append(f"{readme.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and anchor not in heading_anchors(resolved):
                problems.append(f"{readme.relative_to(ROOT)}: {target} (no such heading)")
    assert problems == []


def test_the_workshop_page_lists_every_exercise() -> None:
    page = (ROOT / "docs" / "workshop.md").read_text()
    missing = [name for name in EXERCISES if f"`examples/{name}/README.md`" not in page]
    assert missing == []


def test_reset_puts_a_start_folder_back_as_the_last_commit_has_it(tmp_path: Path) -> None:
    exercise = tmp_path / "examples" / "01-anything"
    (exercise / "start").mkdir(parents=True)
    shutil.copy2(EXAMPLES / "check.py", tmp_path / "examples" / "check.py")
    (exercise / "README.md").write_text("# Exercise 01\n")
    (exercise / "start" / "code.py").write_text("ORIGINAL = True\n")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "exercises"], check=True)
    (exercise / "start" / "code.py").write_text("ORIGINAL = False\n")
    subprocess.run([*git, "add", "."], check=True)  # even a staged change goes

    def reset(*numbers: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "examples/check.py", "--reset", *numbers]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)

    assert reset("7").returncode == 2  # no exercise 07 here
    result = reset("1")
    assert (result.returncode, result.stdout) == (0, "reset examples/01-anything/start/\n")
    assert (exercise / "start" / "code.py").read_text() == "ORIGINAL = True\n"
