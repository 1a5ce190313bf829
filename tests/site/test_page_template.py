"""The fifteen principle and recommendation pages follow one template.

Each has the same second-level sections, in the same order (page-specific topics are third-level
sections inside them). "In short" comes first, in three to eight lines; "Try it" gives the
command that runs the page's blocks one by one (``make page PAGE=docs/...``). The "Checklist
items covered" table lists exactly the seed lines that the checklist map attributes to the page,
so the two cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.site.support import HEADING, MAP, MAP_ROW, section_title

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
PAGE_ROW = re.compile(
    r"^\| (?!seed section \|)(?P<section>[^|]+) \| (?P<item>.+?) \| (?P<status>[^|]+) \|$"
)

Row = tuple[str, str, str]


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


def rows_the_map_gives(page: Path) -> list[Row]:
    """The map's rows whose evidence links to a page: (seed section, seed line, status).

    Args:
        page: A principle or recommendation page.

    Returns:
        The rows, in the map's order.
    """
    link = re.compile(rf"\]\({re.escape(page.relative_to(DOCS).as_posix())}(?:#[\w-]+)?\)")
    rows, section = [], ""
    for line in MAP.read_text().splitlines():
        if heading := HEADING.match(line):
            section = section_title(heading["title"])
        elif (row := MAP_ROW.match(line)) and link.search(row["evidence"]):
            rows.append((section, row["item"], row["status"].strip()))
    return rows


def rows_the_page_lists(page: Path) -> list[Row]:
    """The rows of the table under a page's "Checklist items covered" heading.

    Args:
        page: A principle or recommendation page.

    Returns:
        (seed section, seed line, status) per row.
    """
    text = page.read_text()
    covered = text.split("\n## Checklist items covered\n", 1)[-1]
    return [
        (row["section"].strip(), row["item"], row["status"].strip())
        for line in covered.splitlines()
        if (row := PAGE_ROW.match(line))
    ]


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
def test_the_page_lists_the_checklist_lines_the_map_gives_it(page: Path) -> None:
    expected = rows_the_map_gives(page)
    assert expected, f"the checklist map links no line to {page.name}"
    assert rows_the_page_lists(page) == expected
