"""Run a figure script again while the file it wrote says it was taken on a busy machine.

A script that times something judges its whole run at once (:class:`common.Watch`), and a
neighbour's slow spell of a minute marks all of it busy. ``make figures`` runs each such script
through this one, which runs it again, :data:`ATTEMPTS` times at most, and keeps the last file::

    uv run python benchmarks/until_quiet.py benchmarks/servers.py --markdown FILE
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common import BUSY

ATTEMPTS = 3
"""Runs of the script at most."""


def taken_on_a_busy_machine(markdown: Path) -> bool:
    """Whether the first line of a figure file says it was taken on a busy machine.

    Args:
        markdown: The file the script wrote.

    Returns:
        True when busy, or when the script wrote no file.
    """
    if not markdown.exists():
        return True
    first_line = markdown.read_text().partition("\n")[0]
    return BUSY in first_line


def run_until_quiet(script: list[str], *, attempts: int = ATTEMPTS) -> int:
    """Run a figure script until its file is not marked busy, ``attempts`` times at most.

    Args:
        script: The script's path and arguments, ``--markdown FILE`` among them.
        attempts: Runs at most.

    Returns:
        The last run's exit code.

    Raises:
        ValueError: The arguments name no ``--markdown`` file.
    """
    if "--markdown" not in script[:-1]:
        raise ValueError("the script writes no --markdown file to judge")
    markdown = Path(script[script.index("--markdown") + 1])
    for attempt in range(1, attempts + 1):
        code = subprocess.run([sys.executable, *script], check=False).returncode
        if not taken_on_a_busy_machine(markdown) or attempt == attempts:
            break
        print(f"{markdown}: taken on a busy machine; running again ({attempt + 1} of {attempts})")
    return code


if __name__ == "__main__":
    sys.exit(run_until_quiet(sys.argv[1:]))
