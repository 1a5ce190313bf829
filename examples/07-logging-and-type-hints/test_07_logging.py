"""Exercise 07: a typed, documented service; its log line's message is constant, ids are fields."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from tests.factories import make_product, variant_of

PARTICIPANT_FILE = "stock_moves.py"
# The project's rules for src/: type hints (ANN) and Google-style docstrings (D).
RUFF = [
    sys.executable, "-m", "ruff", "check", "--isolated", "--select", "ANN,D",
    "--ignore", "ANN401,D105,D107", "--config", "lint.pydocstyle.convention='google'",
    "--output-format", "concise", "--quiet",
]  # fmt: skip


def test_every_function_has_type_hints_and_a_docstring(exercise_files: Path) -> None:
    result = subprocess.run(
        [*RUFF, PARTICIPANT_FILE], cwd=exercise_files, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, (
        f"ruff finds missing type hints or docstrings in {PARTICIPANT_FILE}:\n{result.stdout}"
    )


def test_the_arguments_are_keyword_only(participant) -> None:
    parameters = inspect.signature(participant.stock_adjust).parameters.values()
    positional = [p.name for p in parameters if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert not positional, f"these can be passed by position: {', '.join(positional)}"


@pytest.mark.django_db
def test_the_message_is_constant_and_the_ids_are_fields(participant, log_lines) -> None:
    boot, belt = variant_of(make_product(stock=10)), variant_of(make_product(stock=10))
    assert participant.stock_adjust(variant_id=boot.pk, delta=-2, reason="damaged") == 8
    assert participant.stock_adjust(variant_id=belt.pk, delta=3, reason="returned") == 13

    lines = [line for line in log_lines() if line["log.logger"] == participant.__name__]
    assert len(lines) == 2, f"expected one line per adjustment, got {len(lines)}"
    assert lines[0]["message"] == lines[1]["message"], (
        "the two adjustments logged different messages: put the ids and numbers in fields"
    )
    assert [line.get("variant.id") for line in lines] == [boot.pk, belt.pk]
    assert [line.get("stock.delta") for line in lines] == [-2, 3]
    assert [line.get("stock.quantity") for line in lines] == [8, 13]
