"""Helpers shared by the tests of this folder."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


MAP = ROOT / "docs" / "checklist-map.md"


HEADING = re.compile(r"^###\s+(?P<title>.+?)\s*$")


MAP_ROW = re.compile(
    r"^\| (?!seed line \|)(?P<item>.+?) \| (?P<status>[^|]+) \| (?P<evidence>[^|]*) \|$"
)


def section_title(raw: str) -> str:
    """Drop the seed's decorations: emoji ticks and counts such as ``(14/14)``.

    Args:
        raw: A heading's text.

    Returns:
        The bare title.
    """
    title = re.sub(r"\(\d+/\d+\)", "", raw)
    title = "".join(ch for ch in title if ch.isascii())
    return " ".join(title.split())
