"""The checklist tables and the seed page are written from the map, and kept up to date."""

from __future__ import annotations

import pytest

from fashionistar_dev import checklist

MAP = """
### Principle 3: Mandatory asyncio.gather() Usage

| seed line | verdict | evidence |
|---|---|---|
| CreateOrderView example | refuted: one sync service | [P3](principles/03-asyncio-gather.md) |
| 3-5x performance improvement demonstrated | measured | [Benchmarks](benchmarks.md) |
| Proper concurrency patterns documented | confirmed | [Principle 5](principles/05-async-orm.md#x) |
"""

VERDICTS = """| seed claim | measured | verdict | evidence |
|---|---|---|---|
| asyncio.gather(): 3-5x performance improvement demonstrated | x3 | conditional: network | b |
"""


def test_a_measured_line_takes_the_verdict_of_the_last_benchmark_run() -> None:
    rows = checklist.map_rows(MAP, checklist.measured_verdicts(VERDICTS))
    assert [row.verdict for row in rows] == [
        "refuted: one sync service",
        "measured: conditional: network",
        "confirmed",
    ]
    assert rows[0].section == "Principle 3: Mandatory asyncio.gather() Usage"


def test_a_measured_line_the_benchmarks_do_not_settle_is_an_error() -> None:
    with pytest.raises(ValueError, match="no benchmark verdict"):
        checklist.map_rows(MAP, {})


def test_a_page_table_lists_the_lines_whose_evidence_links_the_page() -> None:
    rows = checklist.map_rows(MAP, checklist.measured_verdicts(VERDICTS))
    table = checklist.page_table(rows, "principles/05-async-orm.md")
    assert table.splitlines()[2:] == [
        "| Principle 3: Mandatory asyncio.gather() Usage | Proper concurrency patterns documented "
        "| confirmed |"
    ]


def test_the_seed_page_shows_each_verdict_and_drops_links_to_missing_documents() -> None:
    rows = checklist.map_rows(MAP, checklist.measured_verdicts(VERDICTS))
    seed = (
        "# Title\n### ✅ Principle 3: Mandatory asyncio.gather() Usage\n"
        "- [x] 3-5x performance improvement demonstrated\n- **Reference:** [doc](OTHER.md#a)\n"
    )
    assert checklist.seed_page(seed, rows).splitlines() == [
        "## Title",
        "#### ✅ Principle 3: Mandatory asyncio.gather() Usage",
        "- [x] 3-5x performance improvement demonstrated — **conditional** "
        "([why](checklist-map.md#principle-3-mandatory-asynciogather-usage))",
        "- **Reference:** doc",
    ]


def test_the_written_files_are_up_to_date() -> None:
    stale = [
        str(path.relative_to(checklist.ROOT))
        for path, text in checklist.written_files().items()
        if not path.is_file() or path.read_text() != text
    ]
    assert not stale, f"run `python -m fashionistar_dev.checklist`: {stale}"
