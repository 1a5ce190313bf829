"""No page types a measured figure: figures come from the files the benchmarks write.

A number with a unit (``0.2 s``, ``12%``, ``3x``, ``32 times``, ``64 KiB``...) in a page's prose,
tables, admonitions or non-Python fences fails, unless ``numbers_allowed.toml`` names it with a
reason: a setting shown with its source, a version, a definition or a target (such as a seed
checklist claim, quoted). Figures a page includes with ``--8<--`` are not in its source, and
executed Python blocks and the Output fences under them are checked by running them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from fashionistar_dev.testing.docs import SKIP_DIRECTIVE, MarkdownBlock, markdown_blocks

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
ALLOWED = Path(__file__).with_name("numbers_allowed.toml")

NUMBER = r"(?<![\w.,])\d+(?:[.,]\d+)*(?:[ ]?[-\u2013][ ]?\d+(?:[.,]\d+)*)?"
UNITS = (
    r"ms|µs|us|ns|s|sec|secs|seconds?|minutes?|mins?|hours?|h|%|percent|req/s|requests/s"
    r"|requests (?:a|per) second|rps|tasks/min|tasks/s|tasks (?:a|per) (?:minute|second)"
    r"|jobs/s|ops/s|MiB|MB|GB|GiB|KiB|kB|KB|bytes|commands|rows|queries|connections|times"
)
FIGURE = re.compile(rf"{NUMBER}(?:[ \u00a0]?(?:{UNITS})|[x\u00d7])(?![\w/])")
"""A number with a unit; ``x`` (as in ``3-5x``) only right after the number."""
HTTP_STATUSES = re.compile(r"[1-5]\d\ds")
"""``503s`` are responses, not seconds."""
NOT_PROSE = re.compile(r"\]\([^)]*\)|<https?://[^>]*>|https?://\S+|<!--.*?-->")
"""Link targets and comments: the reader does not read them as figures."""
PYTHON = re.compile(r"py\w*|python\w*|pycon")


@dataclass(frozen=True)
class Figure:
    """A number with a unit on a page's line."""

    page: str
    line: int
    text: str
    start: int
    end: int

    def __str__(self) -> str:
        """Return ``page:line: text``."""
        return f"{self.page}:{self.line}: {self.text.strip()}"


def checked_lines(blocks: list[MarkdownBlock]) -> set[int]:
    """The lines a reader takes as written by hand: all but executed code and its output.

    Args:
        blocks: A page's blocks, in order.

    Returns:
        1-based line numbers.
    """
    lines: set[int] = set()
    previous, previous_ran = None, False
    for block in blocks:
        ran = False
        if block.kind == "fence" and PYTHON.fullmatch(block.language):
            skipped = previous is not None and bool(SKIP_DIRECTIVE.search(previous.content))
            ran = not skipped
            if skipped:
                lines.update(range(block.first + 1, block.last))
        elif block.kind == "fence" and block.language == "output" and previous_ran:
            pass  # compared with what the block above printed
        elif block.kind == "fence":
            lines.update(range(block.first + 1, block.last))
        elif not (block.kind == "html_block" and block.content.lstrip().startswith("<!--")):
            lines.update(range(block.first, block.last + 1))
        previous, previous_ran = block, ran
    return lines


def figures(page: Path) -> list[Figure]:
    """Find the numbers with a unit a page types by hand.

    Args:
        page: A docs page.

    Returns:
        Each figure, with its line.
    """
    return figures_in(page.read_text(), page=page.relative_to(ROOT).as_posix())


def figures_in(text: str, *, page: str) -> list[Figure]:
    """Find the numbers with a unit in a page's Markdown, outside executed code and its output.

    Args:
        text: The page's Markdown.
        page: Its path from the repository's root.

    Returns:
        Each figure, with its line.
    """
    lines = text.splitlines()
    found = []
    for number in sorted(checked_lines(markdown_blocks(text))):
        line = lines[number - 1] if number <= len(lines) else ""
        if line.lstrip().startswith("--8<--"):
            continue
        prose = NOT_PROSE.sub(lambda match: " " * len(match.group(0)), line)
        found += [
            Figure(page, number, line, match.start(), match.end())
            for match in FIGURE.finditer(prose)
            if not HTTP_STATUSES.fullmatch(match.group(0))
        ]
    return found


@dataclass(frozen=True)
class Allowed:
    """A figure a page may type: its exact text on the page, and why."""

    page: str
    text: str
    reason: str

    def covers(self, figure: Figure) -> bool:
        """Tell whether this entry's text, on the figure's line, contains the figure.

        Args:
            figure: A figure found on a page.

        Returns:
            ``True`` when allowed by this entry.
        """
        if figure.page != self.page:
            return False
        return any(
            match.start() <= figure.start and figure.end <= match.end()
            for match in re.finditer(re.escape(self.text), figure.text)
        )


def read_allowed() -> list[Allowed]:
    """Read ``numbers_allowed.toml``, strictly: each entry is a page, a text and a reason.

    Returns:
        The entries.

    Raises:
        ValueError: An entry has other keys, a missing or empty value, a page that does not
            exist, a text without a figure, or repeats another.
    """
    entries = tomllib.loads(ALLOWED.read_text())
    if set(entries) != {"allowed"}:
        raise ValueError(f"{ALLOWED.name} holds [[allowed]] entries only, not {sorted(entries)}")
    allowed = []
    for number, entry in enumerate(entries["allowed"], start=1):
        where = f"{ALLOWED.name}, entry {number} ({entry.get('text')!r})"
        if set(entry) != {"page", "text", "reason"}:
            raise ValueError(f"{where}: keys are page, text and reason, not {sorted(entry)}")
        if not all(isinstance(value, str) and value.strip() for value in entry.values()):
            raise ValueError(f"{where}: page, text and reason are non-empty strings")
        if len(entry["reason"].split()) < 3:
            raise ValueError(f"{where}: the reason says where the figure comes from")
        if not (ROOT / entry["page"]).is_file():
            raise ValueError(f"{where}: no page {entry['page']}")
        if not FIGURE.search(entry["text"]):
            raise ValueError(f"{where}: the text holds no number with a unit")
        item = Allowed(**entry)
        if item in allowed:
            raise ValueError(f"{where}: a repeat of an earlier entry")
        allowed.append(item)
    return allowed


def test_the_allow_list_is_well_formed() -> None:
    assert read_allowed()


def test_every_allowed_figure_is_still_on_its_page() -> None:
    found = [figure for page in PAGES for figure in figures(page)]
    stale = [
        f"{entry.page}: {entry.text!r}"
        for entry in read_allowed()
        if not any(entry.covers(figure) for figure in found)
    ]
    assert not stale, "entries of numbers_allowed.toml that match nothing on their page:\n" + (
        "\n".join(stale)
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(DOCS)))
def test_no_page_types_a_figure_by_hand(page: Path) -> None:
    allowed = read_allowed()
    typed = list(
        dict.fromkeys(
            str(figure)
            for figure in figures(page)
            if not any(entry.covers(figure) for entry in allowed)
        )
    )
    assert not typed, (
        "numbers with a unit typed on the page: write them from a script into docs/assets/ and "
        "include the file (--8<--), assert them in an executed block, or, for a setting, a "
        "version, a definition or a target, add them to tests/site/numbers_allowed.toml:\n"
        + "\n".join(typed)
    )


SAMPLE = """# Seed claims 3-5x

Each query sleeps 0.2 s, see [the run](https://example.com/2x) and the `503s`, p95 and HTTP/2.

| case | share |
|---|---|
| cached | 12% |

!!! warning "The checklist claims 99.99%"
    Run 32 times in a row.

```python
took = 0.005  # 5 ms
print(f"{took * 1000:.0f} ms")
```

```text title="Output"
5 ms
```

<!-- skip: next "it needs a card gateway" -->
```python
charge(timeout=7)  # 7 s
```

```bash
wrk -d 10s http://127.0.0.1:8000/
```

--8<-- "docs/assets/benchmarks/gather.md.txt"
"""


def test_figures_are_found_in_prose_tables_admonitions_and_unrun_code() -> None:
    found = [(f.line, f.text[f.start : f.end]) for f in figures_in(SAMPLE, page="docs/x.md")]
    assert found == [
        (1, "3-5x"),
        (3, "0.2 s"),
        (7, "12%"),
        (9, "99.99%"),
        (10, "32 times"),
        (23, "7 s"),
        (27, "10s"),
    ]


def test_an_allowed_text_covers_the_figures_inside_it_on_its_page() -> None:
    found = figures_in(SAMPLE, page="docs/x.md")
    entry = Allowed(page="docs/x.md", text="claims 99.99%", reason="the seed's claim, quoted")
    assert [figure.line for figure in found if entry.covers(figure)] == [9]
    elsewhere = Allowed(page="docs/y.md", text="claims 99.99%", reason="the seed's claim, quoted")
    assert not any(elsewhere.covers(figure) for figure in found)
    partial = Allowed(page="docs/x.md", text="99.9", reason="a text too short for its figure")
    assert not any(partial.covers(figure) for figure in found)
