"""Fixtures of the workshop exercises: the participant's module, a clean Redis.

``check.py`` sets ``FASHIONISTAR_EXERCISE_AGAINST`` to ``start`` (the participant's file, the
default) or ``solution`` (the reference); each exercise's test names the file it needs in
``PARTICIPANT_FILE``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

AGAINST_VARIABLE = "FASHIONISTAR_EXERCISE_AGAINST"


@pytest.fixture
def participant(request: pytest.FixtureRequest) -> ModuleType:
    """Load the file under test from the exercise's ``start/`` or ``solution/`` folder."""
    against = os.environ.get(AGAINST_VARIABLE, "start")
    exercise = Path(request.path).parent
    path = exercise / against / request.module.PARTICIPANT_FILE
    name = f"workshop_{exercise.name[:2]}_{against}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None, f"cannot load {path}"
    assert spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
