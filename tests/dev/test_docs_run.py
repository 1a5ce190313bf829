"""``make page``: one page's blocks in order, each shown with what it printed, up to a failure.

The command runs in a process of its own, against this run's stack (``DATABASE_URL`` and
``REDIS_URL`` name it), as it runs against a stack that is already up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashionistar_dev.stack import RunningStack

ROOT = Path(__file__).resolve().parents[2]
FAILING_PAGE = """# A page

```python
total = sum(range(4))
print("total:", total)
```

```text title="Output"
total: 6
```

<!-- skip: next "it needs a card gateway" -->
```python
raise RuntimeError("a skipped block ran")
```

```python
assert total == 7, "the sum is off"
```

```python
print("a block after the failure ran")
```
"""


@pytest.fixture(scope="module")
def child_environ(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The run's environment and stack, with a bytecode cache the run's children share.

    Where ``PYTHONDONTWRITEBYTECODE`` is set, each child would compile every module it imports
    (pytest, Django, the project) again: most of its time.
    """
    environ = {**os.environ, **stack.urls.environ()}
    if environ.get("PYTHONDONTWRITEBYTECODE"):
        cache = tmp_path_factory.getbasetemp() / "children-pycache"  # test_migrations.py's too
        cache.mkdir(exist_ok=True)
        environ["PYTHONDONTWRITEBYTECODE"] = ""
        environ["PYTHONPYCACHEPREFIX"] = str(cache)
    return environ


def run_page(project: Path, page: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fashionistar_dev.docs_run", page],
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_page_runs_block_by_block_and_stops_at_the_first_failure(
    tmp_path: Path, child_environ: dict[str, str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\ndjango_find_project = false\n"
    )
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["fashionistar_dev.testing.pytest_plugin"]\n'
    )
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(FAILING_PAGE)

    result = run_page(tmp_path, "docs/page.md", child_environ)

    assert result.returncode == 1, result.stdout + result.stderr
    shown = result.stdout
    assert "docs/page.md:3\n    total = sum(range(4))\n" in shown
    assert '    print("total:", total)\ntotal: 6\n' in shown
    assert "skipped: it needs a card gateway" in shown
    assert "a skipped block ran" not in shown.replace('RuntimeError("a skipped block ran")', "")
    assert "docs/page.md:17\n    assert total == 7" in shown
    assert "AssertionError: the sum is off" in shown
    assert "a block after the failure ran" not in shown
    assert shown.rstrip().endswith("1 ran, 1 skipped; stopped at docs/page.md:17: failed (call)")


def test_a_real_page_passes(child_environ: dict[str, str]) -> None:
    page = next(ROOT.glob("docs/**/how-docs-are-tested.md")).relative_to(ROOT).as_posix()

    result = run_page(ROOT, page, child_environ)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "users: 1\n" in result.stdout
    assert result.stdout.rstrip().endswith(f"{page} passes")
