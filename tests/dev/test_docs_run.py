"""``make page``: one page's blocks in order, each shown with what it printed, up to a failure.

The command runs in a process of its own, against this run's stack (``DATABASE_URL`` and
``REDIS_URL`` name it), as it runs against a stack that is already up.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def run_page(project: Path, page: str, stack: RunningStack) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fashionistar_dev.docs_run", page],
        cwd=project,
        env={**os.environ, **stack.urls.environ()},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_page_runs_block_by_block_and_stops_at_the_first_failure(
    tmp_path: Path, stack: RunningStack
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\ndjango_find_project = false\n"
    )
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["fashionistar_dev.testing.pytest_plugin"]\n'
    )
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text(FAILING_PAGE)

    result = run_page(tmp_path, "docs/page.md", stack)

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


def test_a_real_page_passes(stack: RunningStack) -> None:
    page = next(ROOT.glob("docs/**/how-docs-are-tested.md")).relative_to(ROOT).as_posix()

    result = run_page(ROOT, page, stack)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "users: 1\n" in result.stdout
    assert result.stdout.rstrip().endswith(f"{page} passes")
