"""No broken internal link or anchor in the built site.

``mkdocs build --strict`` reports a link to a missing page, but not a link to a missing
``#anchor`` (a renamed heading breaks it silently), nor a broken link in raw HTML. This test
reads every page of the built site and follows every internal link and anchor.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

BASE = "http://site.invalid/"
ROOT = Path(__file__).resolve().parents[2]
REPO_PATH = re.compile(
    r"`(?P<path>(?:src|tests|examples|benchmarks|deploy)/[\w./-]+?)(?:::(?P<name>\w+))?`"
)


class PageParser(HTMLParser):
    """Collect a page's element ids and the targets of its links."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("id", "name"):
            if values.get(name):
                self.ids.add(values[name])
        if tag == "a" and values.get("href"):
            self.links.append(values["href"])


def read_site(site: Path) -> dict[str, PageParser]:
    """Parse every HTML page, keyed by its URL path (``principles/01-x/index.html``)."""
    pages = {}
    for path in site.rglob("*.html"):
        parser = PageParser()
        parser.feed(path.read_text())
        pages[path.relative_to(site).as_posix()] = parser
    return pages


def target_of(page: str, href: str, site: Path) -> tuple[str, str] | None:
    """The page path and anchor a link points to; None for external links."""
    url = urlsplit(urljoin(BASE + page, href))
    if f"{url.scheme}://{url.netloc}/" != BASE:
        return None
    path = unquote(url.path.removeprefix("/"))
    if path == "" or path.endswith("/"):
        path += "index.html"
    elif (site / path).is_dir():
        path += "/index.html"
    return path, unquote(url.fragment)


def broken_links(site: Path) -> list[str]:
    """Every internal link whose page or anchor does not exist, as ``page: href (why)``."""
    pages = read_site(site)
    problems = []
    for page, parser in sorted(pages.items()):
        if page == "404.html":  # its links are written for any depth; the others cover them
            continue
        for href in parser.links:
            target = target_of(page, href, site)
            if target is None:
                continue
            path, anchor = target
            if not (site / path).is_file():
                problems.append(f"{page}: {href} (no such file)")
            elif anchor and path in pages and anchor not in pages[path].ids:
                problems.append(f"{page}: {href} (no #{anchor} there)")
    return problems


def test_every_internal_link_and_anchor_of_the_site_resolves(built_site: Path) -> None:
    problems = broken_links(built_site)
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_checker_finds_a_missing_anchor_and_a_missing_page(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<h2 id="here">x</h2><a href="#here">ok</a><a href="a/#gone">bad anchor</a>'
        '<a href="b/">no page</a><a href="https://example.com/#x">external</a>'
    )
    (tmp_path / "a" / "index.html").write_text('<h2 id="there">y</h2><a href="../#here">ok</a>')
    assert broken_links(tmp_path) == [
        "index.html: a/#gone (no #gone there)",
        "index.html: b/ (no such file)",
    ]


def test_every_repository_path_a_page_names_exists() -> None:
    """A page that names ``tests/x.py::test_y`` or ``src/...`` points at something real."""
    problems = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for match in REPO_PATH.finditer(page.read_text()):
            path = ROOT / match["path"]
            if not path.exists():
                problems.append(f"{page.relative_to(ROOT)}: {match['path']} does not exist")
            elif match["name"] and not re.search(
                rf"^(?:async )?def {match['name']}\(", path.read_text(), re.MULTILINE
            ):
                problems.append(f"{page.relative_to(ROOT)}: no {match['name']} in {match['path']}")
    assert not problems, "\n".join(problems)
