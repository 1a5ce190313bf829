"""Write the checklist's tables from the checklist map, so no page copies a verdict by hand.

The checklist map (``docs/checklist-map.md``) gives every ticked line of the seed checklist its
verdict and evidence. This module writes, under ``docs/assets/checklist/``:

- one table per principle and recommendation page: the lines whose evidence links that page,
  with their verdict (a "measured" line takes its verdict from the last benchmark run,
  ``docs/assets/benchmarks/verdicts.md.txt``);
- ``seed.md.txt``: the seed checklist itself, each ticked line followed by its verdict and a
  link to its section of the map.

Run ``python -m fashionistar_dev.checklist`` after editing the map or running the benchmarks;
``tests/dev/test_checklist.py`` fails when a written file is out of date.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from markdown.extensions.toc import slugify  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MAP = DOCS / "checklist-map.md"
SEED = ROOT / "tests" / "site" / "seed" / "IMPLEMENTATION_CHECKLIST.md"
VERDICTS = DOCS / "assets" / "benchmarks" / "verdicts.md.txt"
OUT = DOCS / "assets" / "checklist"

HEADING = re.compile(r"^###\s+(?P<title>.+?)\s*$")
MAP_ROW = re.compile(
    r"^\| (?!seed line \|)(?P<item>.+?) \| (?P<verdict>[^|]+) \| (?P<evidence>[^|]*) \|$"
)
SEED_ITEM = re.compile(r"^- \[x\] (?P<item>.+?)\s*$")
PAGE_LINK = re.compile(r"\]\((?P<page>(?:principles|recommendations)/[\w-]+\.md)(?:#[\w-]+)?\)")
MARKDOWN_LINK = re.compile(r"\[(?P<text>[^]]+)\]\([^)]*\)")

MEASURED_AS = {
    "50% performance improvement documented": (
        "Django Ninja: 50% performance improvement documented"
    ),
    "3-5x performance improvement demonstrated": (
        "asyncio.gather(): 3-5x performance improvement demonstrated"
    ),
    "3-5x latency reduction proven": "PgBouncer: 3-5x latency reduction proven",
    "10,000+ tasks/minute throughput": "10,000+ tasks/minute throughput",
    "Query performance baseline": "Query time < 50ms (p95)",
    "Response times < 100ms": "API response < 100ms (p95)",
    "Load testing passed": "Throughput > 1000 RPS",
    "Load testing > 1000 RPS": "Throughput > 1000 RPS",
    "API response < 100ms (p95)": "API response < 100ms (p95)",
    "Task latency < 5s (p95)": "Task latency < 5s (p95)",
    "Query time < 50ms (p95)": "Query time < 50ms (p95)",
    "Cache hit rate > 80%": "Cache hit rate > 80%",
    "Throughput > 1000 RPS": "Throughput > 1000 RPS",
    "Memory < 500MB/pod": "Memory < 500MB/pod",
}
"""Seed lines the benchmarks measure, and the claim of the verdicts table that settles each."""


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


@dataclass(frozen=True)
class MapRow:
    """One line of the seed as the map settles it."""

    section: str
    item: str
    verdict: str
    evidence: str


def measured_verdicts(text: str) -> dict[str, str]:
    """Read the verdicts table the benchmarks write: claim to verdict.

    Args:
        text: The table's Markdown.

    Returns:
        The verdict of each claim.
    """
    verdicts = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if (
            len(cells) >= 3
            and cells[0] not in ("claim", "seed claim", "")
            and set(cells[0]) != {"-"}
        ):
            verdicts[cells[0]] = cells[2]
    return verdicts


def map_rows(map_text: str, verdicts: dict[str, str]) -> list[MapRow]:
    """Read the map's rows, a "measured" verdict replaced by the benchmarks' one.

    Args:
        map_text: The checklist map's Markdown.
        verdicts: The benchmarks' verdicts (:func:`measured_verdicts`).

    Returns:
        The rows, in the map's order.

    Raises:
        ValueError: A measured line that the benchmarks' verdicts do not settle.
    """
    rows, section = [], ""
    for line in map_text.splitlines():
        if heading := HEADING.match(line):
            section = section_title(heading["title"])
        elif row := MAP_ROW.match(line):
            verdict = row["verdict"].strip()
            if verdict == "measured":
                claim = MEASURED_AS.get(row["item"], "")
                if claim not in verdicts:
                    raise ValueError(f"no benchmark verdict for the measured line {row['item']!r}")
                verdict = f"measured: {verdicts[claim]}"
            rows.append(MapRow(section, row["item"], verdict, row["evidence"]))
    return rows


def page_table(rows: list[MapRow], page: str) -> str:
    """The table of the seed lines whose evidence links one page.

    Args:
        rows: The map's rows.
        page: The page, relative to ``docs/`` (``principles/03-asyncio-gather.md``).

    Returns:
        A Markdown table.
    """
    lines = ["| checklist section | checklist line | verdict |", "|---|---|---|"]
    lines += [
        f"| {row.section} | {row.item} | {row.verdict} |"
        for row in rows
        if page in {link["page"] for link in PAGE_LINK.finditer(row.evidence)}
    ]
    return "\n".join(lines) + "\n"


def seed_page(seed_text: str, rows: list[MapRow]) -> str:
    """The seed checklist, each ticked line followed by its verdict and a link to the map.

    The seed's links to documents this repository does not have become plain text, and its
    headings go down one level so that the including page keeps the only title.

    Args:
        seed_text: The seed's Markdown.
        rows: The map's rows.

    Returns:
        Markdown for the seed page.
    """
    verdicts = {(row.section, row.item): row.verdict for row in rows}
    out, section = [], ""
    for line in seed_text.splitlines():
        line = MARKDOWN_LINK.sub(lambda link: link["text"], line)
        if heading := HEADING.match(line):
            section = section_title(heading["title"])
        if line.startswith("#"):
            line = "#" + line
        elif (item := SEED_ITEM.match(line)) and (section, item["item"]) in verdicts:
            verdict = verdicts[(section, item["item"])]
            word = verdict.removeprefix("measured: ").split(":", 1)[0]
            line += f" — **{word}** ([why](checklist-map.md#{slugify(section, '-')}))"
        out.append(line)
    return "\n".join(out) + "\n"


def written_files() -> dict[Path, str]:
    """Everything this module writes, by path.

    Returns:
        The files' contents.
    """
    rows = map_rows(MAP.read_text(), measured_verdicts(VERDICTS.read_text()))
    pages = sorted([*DOCS.glob("principles/*.md"), *DOCS.glob("recommendations/*.md")])
    files = {
        OUT / f"{page.parent.name}-{page.stem}.md.txt": page_table(
            rows, page.relative_to(DOCS).as_posix()
        )
        for page in pages
    }
    files[OUT / "seed.md.txt"] = seed_page(SEED.read_text(), rows)
    return files


def main() -> int:
    """Write the tables and the seed page.

    Returns:
        The exit status.
    """
    OUT.mkdir(parents=True, exist_ok=True)
    for path, text in written_files().items():
        path.write_text(text)
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
