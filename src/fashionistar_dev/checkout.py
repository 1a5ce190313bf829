"""A copy of the working tree: what ``git clone`` gives, plus the changes not committed yet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]


def copy_working_tree(target: Path, *, source: Path = PROJECT_DIR) -> Path:
    """Copy every file git tracks or would track (ignored files left out) into ``target``.

    Args:
        target: An existing, empty folder.
        source: The clone to copy.

    Returns:
        ``target``.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        if (source / name).is_file():  # a deleted file is still listed until it is committed
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)
    return target
