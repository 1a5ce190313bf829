"""The checklist map covers every line of the seed checklist and names only real tests.

The seed (`IMPLEMENTATION_CHECKLIST.md`) is kept next to this test, as it was given to the
project: the map must list each of its ticked lines under the section it appears in.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.site.support import HEADING, MAP, MAP_ROW, ROOT, section_title

SEED = Path(__file__).with_name("seed") / "IMPLEMENTATION_CHECKLIST.md"

SEED_ITEM = re.compile(r"^- \[x\] (?P<item>.+?)\s*$")
TEST_REF = re.compile(r"`(?P<path>tests/[\w/.-]+\.py)(?:::(?P<name>\w+))?`")
STATUSES = ("confirmed", "conditional", "refuted", "measured", "not measurable in a repository")


def items_by_section(path: Path, line_pattern: re.Pattern[str]) -> dict[str, list[str]]:
    """Read the items of a Markdown file, grouped under their ``###`` heading.

    Args:
        path: The file.
        line_pattern: A pattern whose ``item`` group is an item's text.

    Returns:
        Section title to item texts, in file order.
    """
    sections: dict[str, list[str]] = {}
    current = ""
    for line in path.read_text().splitlines():
        if heading := HEADING.match(line):
            current = section_title(heading["title"])
        elif (match := line_pattern.match(line)) and current:
            sections.setdefault(current, []).append(match["item"])
    return sections


def map_rows() -> list[re.Match[str]]:
    """Return the rows of the map's tables (header and rule rows left out)."""
    rows = [MAP_ROW.match(line) for line in MAP.read_text().splitlines()]
    return [row for row in rows if row is not None]


def test_the_seed_has_the_sections_and_lines_it_had() -> None:
    sections = items_by_section(SEED, SEED_ITEM)
    assert sum(len(items) for items in sections.values()) == 168
    assert "Infrastructure & Deployment" in sections
    assert "Principle 1: Aggressive Django Ninja Adoption" in sections


def test_every_seed_line_is_mapped_under_its_section() -> None:
    seed = items_by_section(SEED, SEED_ITEM)
    mapped = items_by_section(MAP, MAP_ROW)
    missing = [
        f"{section}: {item}"
        for section, items in seed.items()
        for item in items
        if item not in mapped.get(section, [])
    ]
    assert not missing, "lines of the seed the checklist map does not list:\n" + "\n".join(missing)
    extra = [
        f"{section}: {item}"
        for section, items in mapped.items()
        for item in items
        if item not in seed.get(section, [])
    ]
    assert not extra, "map rows that are not lines of the seed:\n" + "\n".join(extra)


def test_every_row_has_a_status_and_evidence_or_a_reason() -> None:
    for row in map_rows():
        status = row["status"].strip()
        assert status.startswith(STATUSES), f"unknown status: {row[0]}"
        if status.startswith(("conditional", "refuted", "not measurable")):
            assert ":" in status, f"this verdict must say why: {row[0]}"
        else:
            assert row["evidence"].strip() not in ("", "—"), f"no evidence: {row[0]}"


def test_every_test_the_map_names_exists() -> None:
    references = [m for line in MAP.read_text().splitlines() for m in TEST_REF.finditer(line)]
    assert len(references) > 50
    for reference in references:
        path = ROOT / reference["path"]
        assert path.is_file(), f"{reference['path']} does not exist"
        if reference["name"]:
            pattern = rf"^(?:async )?def {reference['name']}\("
            assert re.search(pattern, path.read_text(), re.MULTILINE), (
                f"{reference['path']} has no test {reference['name']}"
            )


@pytest.mark.parametrize(
    ("raw", "title"),
    [
        (
            "✅ Principle 4: Django Tasks + Redis Cluster",
            "Principle 4: Django Tasks + Redis Cluster",
        ),
        ("Infrastructure & Deployment ✅ (14/14)", "Infrastructure & Deployment"),
    ],
)
def test_section_titles_lose_their_decorations(raw: str, title: str) -> None:
    assert section_title(raw) == title


def test_the_production_checklist_has_fewer_lines_than_its_heading_says() -> None:
    production = [
        "Infrastructure & Deployment",
        "Django 6.0 Configuration",
        "Async & Database",
        "Background Tasks",
        "Django Ninja APIs",
        "DRF APIs",
        "Security & Monitoring",
        "Event-Driven Architecture",
        "Testing & Quality",
        "Performance Baselines",
        "Documentation & Training",
        "Go-Live Preparation",
    ]
    sections = items_by_section(SEED, SEED_ITEM)
    heading = re.search(r"PRODUCTION CHECKLIST: (\d+) ITEMS", SEED.read_text())
    assert heading is not None
    counted = sum(len(sections[name]) for name in production)
    assert counted == 85
    assert counted < int(heading.group(1))
