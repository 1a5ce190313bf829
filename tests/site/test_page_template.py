"""The fifteen principle and recommendation pages follow one template.

Each has the same second-level sections, in the same order (page-specific topics are third-level
sections inside them). "In short" comes first, in three to eight lines; "Try it" gives the
command that runs the page's blocks one by one (``make page PAGE=docs/...``). "Checklist items
covered" includes the table ``python -m fashionistar_dev.checklist`` writes from the checklist
map for the page (``tests/dev/test_checklist.py`` keeps it up to date), so the two cannot drift
apart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fashionistar_dev import checklist

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted([*DOCS.glob("principles/*.md"), *DOCS.glob("recommendations/*.md")])
SECTIONS = [
    "In short",
    "Why",
    "The pattern",
    "The real code",
    "Try it",
    "Measured",
    "Pitfalls",
    "Checklist items covered",
]


def second_level_sections(text: str) -> dict[str, list[str]]:
    """Split a page at its ``##`` headings (outside code fences).

    Args:
        text: The page's Markdown.

    Returns:
        Each heading's text, in order, with the lines under it.
    """
    sections: dict[str, list[str]] = {}
    lines: list[str] = []
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            lines = sections.setdefault(line[3:].strip(), [])
        else:
            lines.append(line)
    return sections


def test_there_are_fifteen_pages() -> None:
    assert len(PAGES) == 15


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_the_page_has_the_template_sections_in_order(page: Path) -> None:
    assert list(second_level_sections(page.read_text())) == SECTIONS


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_the_page_says_it_in_short_first(page: Path) -> None:
    in_short = second_level_sections(page.read_text()).get("In short", [])
    text_lines = [line for line in in_short if line.strip()]
    assert 3 <= len(text_lines) <= 8, f"'In short' has {len(text_lines)} lines of text"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_try_it_says_how_to_run_the_page(page: Path) -> None:
    try_it = "\n".join(second_level_sections(page.read_text()).get("Try it", []))
    command = f"make page PAGE={page.relative_to(DOCS.parent).as_posix()}"
    assert re.search(rf"{re.escape(command)}(?![\w./-])", try_it), f"'Try it' names {command}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.stem)
def test_the_page_includes_the_checklist_lines_the_map_gives_it(page: Path) -> None:
    table = checklist.OUT / f"{page.parent.name}-{page.stem}.md.txt"
    covered = second_level_sections(page.read_text()).get("Checklist items covered", [])
    include = f'--8<-- "{table.relative_to(checklist.ROOT).as_posix()}"'
    assert include in covered, f"'Checklist items covered' includes {include}"
    assert len(table.read_text().splitlines()) > 2, f"the checklist map links no line to {page}"
