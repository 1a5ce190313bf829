"""The built site in a real headless Chromium: pages render, search works, no console error."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from tests.site.devtools import Browser

PRINCIPLE = "principles/03-asyncio-gather/"
MERMAID_SCRIPT = "assets/javascripts/vendor/mermaid-11.17.2.min.js"
OUTSIDE = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]+""")


def site_errors(browser: Browser) -> list[str]:
    """The page's console errors since the last call."""
    errors = browser.console_errors()
    browser.events.clear()
    return errors


def test_the_site_loads_nothing_from_elsewhere(built_site: Path) -> None:
    # No fonts from Google (`theme.font: false`), Mermaid from the repository, not from unpkg.
    pages = list(built_site.rglob("*.html"))
    assert len(pages) > 20
    outside = {match for page in pages for match in OUTSIDE.findall(page.read_text())}
    assert outside == set()
    head = (built_site / "architecture" / "index.html").read_text()
    assert f'src="../{MERMAID_SCRIPT}"' in head


def test_only_the_pages_that_draw_a_diagram_load_mermaid(built_site: Path) -> None:
    pages = {page: page.read_text() for page in built_site.rglob("index.html")}
    loading = {page for page, text in pages.items() if MERMAID_SCRIPT in text}
    drawing = {page for page, text in pages.items() if '<pre class="mermaid">' in text}
    assert loading == drawing
    assert len(drawing) >= 6


SEARCH = """
(async (query) => {
  const input = document.querySelector("input.md-search__input");
  input.focus();
  input.value = query;
  for (const type of ["input", "keyup"]) input.dispatchEvent(new Event(type, {bubbles: true}));
  for (let i = 0; i < 200; i++) {
    const hits = [...document.querySelectorAll(".md-search-result__item a")];
    if (hits.length) return hits.map((a) => [a.getAttribute("href"), a.textContent.trim()]);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return [];
})
"""


def test_the_home_page_renders_with_its_navigation(browser: Browser, site_url: str) -> None:
    browser.open(site_url)
    assert browser.evaluate("document.querySelector('article h1').textContent").startswith(
        "Fashionistar Field Guide"
    )
    nav = browser.evaluate(
        "[...document.querySelectorAll('.md-nav__link')].map(a => a.textContent)"
    )
    assert any("Architecture" in item for item in nav)
    assert site_errors(browser) == []


def test_a_principle_page_renders_its_code_and_its_headings(
    browser: Browser, site_url: str
) -> None:
    browser.open(site_url + PRINCIPLE)
    title = browser.evaluate("document.querySelector('article h1').textContent")
    assert title.startswith("Principle 3")
    assert browser.evaluate("document.querySelectorAll('article pre code').length") > 0
    assert site_errors(browser) == []


def test_sync_and_async_code_sit_side_by_side_in_tabs(browser: Browser, site_url: str) -> None:
    browser.open(site_url + "principles/01-django-ninja-async/")
    labels = browser.evaluate(
        "[...document.querySelectorAll('article .tabbed-labels label')].map(l => l.textContent)"
    )
    assert labels[:2] == ["Async (Ninja)", "Sync (DRF)"]
    shown = """(() => {
      const block = [...document.querySelectorAll('article .tabbed-block')][%d];
      return block.offsetHeight > 0 && block.textContent.includes(%r);
    })()"""
    assert browser.evaluate(shown % (0, "order_place_op"))
    browser.evaluate("document.querySelectorAll('article .tabbed-labels label')[1].click(); 1")
    assert browser.evaluate(shown % (1, "OrderPlaceApi"))
    assert site_errors(browser) == []


def test_the_architecture_diagram_is_drawn_by_mermaid(
    browser: Browser, site_url: str, built_site: Path
) -> None:
    html = (built_site / "architecture" / "index.html").read_text()
    assert '<pre class="mermaid"><code>flowchart TD' in html  # a diagram, not a code block
    browser.open(site_url + "architecture/")
    # Material draws the diagram in a closed shadow root: its size shows it is there.
    drawn = browser.evaluate(
        """(async () => {
          for (let i = 0; i < 200; i++) {
            const diagram = document.querySelector("article div.mermaid");
            if (diagram && diagram.getBoundingClientRect().height > 200) return true;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          return false;
        })()"""
    )
    assert drawn
    assert site_errors(browser) == []


def test_search_finds_a_principle(browser: Browser, site_url: str) -> None:
    browser.open(site_url)
    hits = browser.evaluate(f"{SEARCH}('asyncio.gather')")
    print(hits[:5])
    assert any(PRINCIPLE in href for href, _ in hits), hits
    assert site_errors(browser) == []


def test_a_console_error_is_caught(browser: Browser, site_url: str) -> None:
    browser.open(site_url)
    browser.evaluate("setTimeout(() => { throw new Error('planted'); }, 0); 1")
    browser.evaluate("console.error('logged'); new Promise((resolve) => setTimeout(resolve, 100))")
    errors = site_errors(browser)
    assert any("planted" in error for error in errors)
    assert any("logged" in error for error in errors)
    browser.open(site_url + "no-such-page/")
    assert any("404" in error for error in site_errors(browser))


# A phone in the light scheme, a laptop in the dark one: both widths and both schemes on every
# page (the scheme changes colours, not the layout the overflow check reads).
SCREENS = (("phone", (390, 844), False), ("laptop", (1366, 800), True))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "site"

# What sticks out of the screen: an element of the content whose box ends past the window's
# right edge, unless it sits inside something that scrolls sideways (code, tables, tab labels).
# (The header's search field is Material's own and is left out.)
OVERFLOW = """(() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const problems = [];
  for (const el of document.querySelectorAll(".md-content *")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) continue;
    let scroller = el.parentElement;
    while (scroller && scroller !== document.body && !scrolls(scroller)) {
      scroller = scroller.parentElement;
    }
    if (scroller && scroller !== document.body) continue;
    problems.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.slice(0, 60)}`);
  }
  const article = document.querySelector("article");
  if (!article || article.innerText.trim().length < 40) problems.push("blank page");
  return problems.slice(0, 5);
})()"""


# Material keeps the reader's palette in localStorage from the first page on and then ignores
# prefers-color-scheme: the scheme is switched as a reader would, with the palette toggle.
CHOOSE_SCHEME = """((scheme) => {
  const input = document.querySelector(`input[data-md-color-scheme="${scheme}"]`);
  if (input && !input.checked) input.click();
  return document.body.getAttribute("data-md-color-scheme");
})"""


def choose_scheme(browser: Browser, *, dark: bool) -> None:
    """Switch the open page to the dark (``slate``) or the light (``default``) palette."""
    scheme = "slate" if dark else "default"
    assert browser.evaluate(f"{CHOOSE_SCHEME}({json.dumps(scheme)})") == scheme


def site_pages(built_site: Path) -> list[str]:
    """Every page of the built site, as a path under the site's root."""
    pages = [
        page.parent.relative_to(built_site).as_posix() for page in built_site.rglob("index.html")
    ]
    return sorted(f"{page}/" if page != "." else "" for page in pages)


def test_every_page_fits_a_phone_and_a_laptop_in_both_colour_schemes(
    browser: Browser, site_url: str, built_site: Path
) -> None:
    screens = list(SCREENS)
    problems = {}
    browser.set_viewport(*screens[0][1], dark=screens[0][2])
    for page in site_pages(built_site):
        # Each page opens in the screen the previous one was left in: one switch per page.
        browser.open(site_url + page)
        for index, (name, (width, height), dark) in enumerate(screens):
            if index:
                browser.set_viewport(width, height, dark=dark)
            choose_scheme(browser, dark=dark)
            if found := browser.evaluate(OVERFLOW):
                problems[f"{page or 'home'} at {name} width"] = found
            shot = f"{(page or 'home').strip('/').replace('/', '-')}-{name}-"
            browser.screenshot(SCREENSHOTS / f"{shot}{'dark' if dark else 'light'}.png")
        screens.reverse()
    browser.set_viewport(1280, 900)
    assert not problems, "\n".join(f"{where}: {found}" for where, found in problems.items())


MERMAID_SOURCE = re.compile(r'<pre class="mermaid"><code>(.*?)</code></pre>', re.DOTALL)


def test_every_diagram_parses_and_is_drawn(
    browser: Browser, site_url: str, built_site: Path
) -> None:
    diagrams = {
        page: [
            html.unescape(source)
            for source in MERMAID_SOURCE.findall((built_site / page / "index.html").read_text())
        ]
        for page in site_pages(built_site)
    }
    diagrams = {page: sources for page, sources in diagrams.items() if sources}
    assert len(diagrams) >= 6, sorted(diagrams)
    for page, sources in diagrams.items():
        browser.open(site_url + page)
        for source in sources:
            parsed = browser.evaluate(
                f"mermaid.parse({json.dumps(source)}).then(() => 'ok', (error) => String(error))"
            )
            assert parsed == "ok", f"{page}: {parsed}"
        heights = browser.evaluate(
            f"""(async () => {{
              for (let i = 0; i < 200; i++) {{
                const drawn = [...document.querySelectorAll("article div.mermaid")]
                  .map((d) => d.getBoundingClientRect().height);
                if (drawn.length === {len(sources)} && drawn.every((h) => h > 20)) return drawn;
                await new Promise((resolve) => setTimeout(resolve, 50));
              }}
              return [...document.querySelectorAll("article div.mermaid")]
                .map((d) => d.getBoundingClientRect().height);
            }})()"""
        )
        assert len(heights) == len(sources), f"{page}: {heights}"
        assert min(heights) > 20, f"{page}: {heights}"
        assert site_errors(browser) == [], page
