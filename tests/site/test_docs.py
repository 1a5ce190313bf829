"""The docs pipeline: every Python fence runs or says why not; lint; includes resolve."""

from __future__ import annotations

import doctest
import os
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples
from sybil.example import SybilFailure

from fashionistar_dev.testing.docs import docs_sybil, fence_problems

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
EXERCISE_PAGES = sorted((ROOT / "examples").rglob("*.md"))


@pytest.mark.parametrize(
    "page", PAGES + EXERCISE_PAGES, ids=lambda page: str(page.relative_to(ROOT))
)
def test_every_python_fence_runs_or_gives_a_reason(page: Path) -> None:
    assert [str(problem) for problem in fence_problems(page)] == []


def write_page(tmp_path: Path, body: str) -> Path:
    page = tmp_path / "page.md"
    page.write_text(body)
    return page


def test_guard_flags_a_fence_the_runner_would_drop(tmp_path: Path) -> None:
    page = write_page(tmp_path, "# x\n\n```pyi\ndef f() -> int: ...\n```\n")
    problems = fence_problems(page)
    assert [(p.line, p.problem) for p in problems] == [
        (3, "Python fence the docs tests do not run")
    ]


def test_guard_flags_a_skip_without_reason(tmp_path: Path) -> None:
    page = write_page(tmp_path, "# x\n\n<!-- skip: next -->\n```python\nraise SystemExit\n```\n")
    assert "skip without a reason" in str(fence_problems(page)[0])


def test_titled_and_short_fences_are_run_not_dropped(tmp_path: Path) -> None:
    body = (
        '```python title="broken.py"\nraise ValueError("titled fence ran")\n```\n\n'
        "```py\nraise ValueError('py fence ran')\n```\n"
    )
    page = write_page(tmp_path, body)
    assert fence_problems(page) == []
    examples = list(docs_sybil(docs_dir=tmp_path).parse(page).examples())
    assert len(examples) == 2
    for example, message in zip(examples, ["titled fence ran", "py fence ran"], strict=True):
        with pytest.raises(ValueError, match=message):
            example.evaluate()


def test_a_broken_block_fails_and_a_wrong_doctest_output_fails(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        "```python\nvalue = 1\nassert value == 2\n```\n\n```python\n>>> 1 + 1\n3\n```\n",
    )
    broken, wrong_output = docs_sybil(docs_dir=tmp_path).parse(page).examples()
    with pytest.raises(AssertionError):
        broken.evaluate()
    with pytest.raises(SybilFailure, match="Expected:\n    3\nGot:\n    2"):
        wrong_output.evaluate()


def test_top_level_await_runs_in_the_page_namespace(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        "```python\nimport asyncio\n\nanswer = await asyncio.sleep(0, result=42)\n```\n\n"
        "```python\nassert answer == 42\n```\n",
    )
    for example in docs_sybil(docs_dir=tmp_path).parse(page).examples():
        example.evaluate()


HIDDEN_PYTHON = {
    "untagged fence": "```\nfrom fashionistar.orders.models import Order\n```\n",
    "text fence, a session": "```text\n>>> Order.objects.count()\n0\n```\n",
    "console fence, python -c": (
        '```console\n$ uv run python -c "import django; print(django.VERSION)"\n```\n'
    ),
    "bash fence, manage.py shell -c": (
        "```bash\npython manage.py shell -c 'from x import t; t.enqueue()'\n```\n"
    ),
    "shell fence, heredoc": "```shell\npython - <<'EOF'\nprint(1)\nEOF\n```\n",
    "indented code": "    async def handler():\n        await thing()\n",
    "awaiting fence": "```text\nawait Order.objects.acount()\n```\n",
}
NOT_PYTHON = {
    "commands": "```bash\nmake test\nuv run pytest -x -k 'gather or pool'  # one page\n```\n",
    "a repr in output": (
        "```python\nprint({'status': 'paid'})\n```\n\n"
        "```text title=\"Output\"\n{'status': 'paid'}\n```\n"
    ),
    "a bare name": "```\npytest\n```\n",
    "yaml": "```yaml\nimport: x\n```\n",
    "python -c of something else": "```bash\nls -c x\n```\n",
    "a tab's Python fence": '=== "Sync"\n\n    ```python\n    import os\n    ```\n',
    "an admonition's prose": '!!! note "A title"\n    from the docs, import what you need\n',
}


@pytest.mark.parametrize("body", HIDDEN_PYTHON.values(), ids=HIDDEN_PYTHON.keys())
def test_guard_finds_python_outside_python_fences(tmp_path: Path, body: str) -> None:
    problems = fence_problems(write_page(tmp_path, f"# x\n\n{body}"))
    assert [(p.line, "that the docs tests do not run" in p.problem) for p in problems] == [
        (3, True)
    ]


@pytest.mark.parametrize("body", NOT_PYTHON.values(), ids=NOT_PYTHON.keys())
def test_guard_leaves_commands_output_and_containers_alone(tmp_path: Path, body: str) -> None:
    assert fence_problems(write_page(tmp_path, f"# x\n\n{body}")) == []


def evaluate_all(page: Path) -> None:
    for example in docs_sybil(docs_dir=page.parent).parse(page).examples():
        example.evaluate()


OUTPUT = '```text title="Output"\n{}```\n'


def test_an_output_block_is_compared_with_what_the_block_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = write_page(
        tmp_path,
        "```python\nfor n in range(3):\n    print(f'order {n}: paid')\n```\n\n"
        + OUTPUT.format("order 0: paid\norder ...: paid\n  order 2:   paid\n"),
    )
    evaluate_all(page)
    assert capsys.readouterr().out == "order 0: paid\norder 1: paid\norder 2: paid\n"


def test_a_different_output_fails_with_a_diff(tmp_path: Path) -> None:
    page = write_page(
        tmp_path, "```python\nprint('paid')\nprint('shipped')\n```\n" + OUTPUT.format("paid\nnew\n")
    )
    with pytest.raises(SybilFailure) as failure:
        evaluate_all(page)
    assert "--- the Output block\n+++ what the block printed\n" in failure.value.result
    assert "-new\n+shipped\n" in failure.value.result


def test_a_block_that_prints_without_an_output_block_fails(tmp_path: Path) -> None:
    page = write_page(tmp_path, "```python\nprint('paid')\n```\n\nThe order is paid.\n")
    with pytest.raises(SybilFailure, match="prints but the page does not show it"):
        evaluate_all(page)


def test_an_output_block_under_a_silent_block_fails(tmp_path: Path) -> None:
    page = write_page(tmp_path, "```python\nstatus = 'paid'\n```\n" + OUTPUT.format("paid\n"))
    with pytest.raises(SybilFailure, match="printed something else"):
        evaluate_all(page)


def test_top_level_await_output_is_captured_across_threads(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        "```python\nimport asyncio\n\nfrom asgiref.sync import sync_to_async\n\n"
        "await asyncio.sleep(0)\nprint('in the event loop')\n"
        "await sync_to_async(print)('in the sync thread')\n```\n\n"
        + OUTPUT.format("in the event loop\nin the sync thread\n"),
    )
    evaluate_all(page)


def test_a_skipped_block_with_its_output_is_not_run(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        '<!-- skip: next "needs a card gateway" -->\n```python\nprint(1)\n```\n\n'
        + OUTPUT.format("2\n"),
    )
    with pytest.raises(unittest.SkipTest):
        evaluate_all(page)
    assert fence_problems(page) == []


def test_guard_flags_an_output_block_without_its_python_block(tmp_path: Path) -> None:
    page = write_page(
        tmp_path,
        "```python\nprint(1)\n```\n\nProse between.\n\n"
        + OUTPUT.format("1\n")
        + "\n```python\n>>> 1\n1\n```\n\n"
        + OUTPUT.format("1\n"),
    )
    assert [(p.line, p.problem.split(" (")[0]) for p in fence_problems(page)] == [
        (7, "Output block with no Python block right above it"),
        (16, "Output block with no Python block right above it"),
    ]


DOC_EXAMPLES = list(find_examples(str(DOCS)))
SRC_EXAMPLES = list(find_examples(str(ROOT / "src")))


@pytest.mark.parametrize("example", DOC_EXAMPLES, ids=str)
def test_docs_blocks_pass_ruff_and_black(example: CodeExample, eval_example: EvalExample) -> None:
    if "--8<--" in example.source:
        pytest.skip("an include: the included file is linted where it lives")
    # F704: top-level await is allowed on our pages; F821: a page's blocks share one namespace;
    # D, ANN: a block is a fragment, not a module; S105/S106: demo passwords are published;
    # PT: readers run blocks without pytest.
    eval_example.set_config(
        line_length=100, ruff_ignore=["F704", "F821", "D", "ANN", "S105", "S106", "PT"]
    )
    if example.source.lstrip().startswith(">>>"):
        # A doctest: lint the statements; the lines it prints are output, not code.
        statements = doctest.DocTestParser().get_examples(example.source)
        code = "".join(statement.source for statement in statements)
        # I001, B018: a session has no blank line after imports and shows bare expressions.
        eval_example.config.ruff_ignore.extend(["I001", "B018"])
        eval_example.lint_ruff(CodeExample.create(code, path=example.path))
        return
    eval_example.lint(example)


@pytest.mark.parametrize("example", SRC_EXAMPLES, ids=str)
def test_docstring_examples_print_what_they_say(
    example: CodeExample, eval_example: EvalExample
) -> None:
    eval_example.set_config(line_length=100, ruff_ignore=["D100"])
    eval_example.lint(example)
    eval_example.run_print_check(example)


def test_there_are_docstring_examples_to_check() -> None:
    assert SRC_EXAMPLES


def build_site(site_root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "--site-dir",
            str(site_root / "site"),
        ],
        cwd=site_root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_a_renamed_snippet_section_fails_the_build(tmp_path: Path) -> None:
    for name in ("docs", "overrides", "src", "deploy"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path)
    assert build_site(tmp_path).returncode == 0
    config = tmp_path / "src/fashionistar/kernel/config.py"
    config.write_text(config.read_text().replace("[start:database_from_env]", "[start:renamed]"))
    result = build_site(tmp_path)
    assert result.returncode != 0
    assert "database_from_env" in result.stderr + result.stdout
