"""Run one docs page's blocks in order, as the tests run them, and show each one.

``make page PAGE=docs/principles/03-asyncio-gather.md`` (or ``python -m
fashionistar_dev.docs_run PAGE``) runs the page through pytest with the project's plugin: a
throwaway stack, the migrated database emptied before the page, the page's one namespace. Before
each block it prints the block's place (``page:line``) and its source, after it what the block
printed; it stops at the first block that fails, with its traceback. The exit status is 0 when
every block ran (or was skipped with its reason), 1 otherwise.

With ``DATABASE_URL`` and ``REDIS_URL`` set, the page runs against those services instead of a
throwaway stack, and empties their database and Redis before and after it.
"""

from __future__ import annotations

import argparse
import doctest
import sys
from pathlib import Path
from typing import TextIO

import pytest
from sybil.integration.pytest import SybilItem

from fashionistar_dev.testing.docs import PythonBlock


class Style:
    """Terminal styles, or none when the output is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        """Use colours only on a terminal.

        Args:
            stream: Where the report goes.
        """
        self.on = stream.isatty()

    def __call__(self, text: str, code: str) -> str:
        """Wrap text in an ANSI style.

        Args:
            text: The text.
            code: The SGR code (``1`` bold, ``2`` dim, ``31`` red, ``33`` yellow).

        Returns:
            The styled text.
        """
        return f"\x1b[{code}m{text}\x1b[0m" if self.on else text


def block_source(item: SybilItem) -> str | None:
    """The code of a block a reader sees, or ``None`` for a directive (``skip``...).

    Args:
        item: A collected block.

    Returns:
        The code.
    """
    parsed = item.example.parsed
    if isinstance(parsed, PythonBlock):
        return str(parsed.source)
    if isinstance(parsed, doctest.Example):
        statement = "".join(
            (">>> " if number == 0 else "... ") + line
            for number, line in enumerate(parsed.source.splitlines(keepends=True))
        )
        return statement + parsed.want
    return None


class BlockReport:
    """A pytest plugin that shows each block, what it printed, and the first failure."""

    def __init__(self, page: Path, out: TextIO) -> None:
        """Report on one page.

        Args:
            page: The page.
            out: Where to write (the terminal: pytest's own reporter is off).
        """
        self.page = page
        self.out = out
        self.style = Style(out)
        self.blocks: dict[str, SybilItem] = {}
        self.ran = self.skipped = 0
        self.failed: str | None = None

    def write(self, text: str = "") -> None:
        """Write a line, at once (pytest captures the output while a block runs)."""
        self.out.write(text + "\n")
        self.out.flush()

    def place(self, item: SybilItem) -> str:
        """``page:line`` of a block, as the page was named on the command line."""
        return f"{self.page}:{item.example.line}"

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        """Silence pytest's own reporter: this plugin says what happens.

        Args:
            config: pytest's configuration.
        """
        config.pluginmanager.unregister(name="terminalreporter")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        """Remember the page's blocks (directives are items too, with nothing to show).

        Args:
            items: The collected items.
        """
        self.blocks = {
            item.nodeid: item
            for item in items
            if isinstance(item, SybilItem) and block_source(item) is not None
        }

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """Show why the page could not be read.

        Args:
            report: A collector's report.
        """
        if report.failed:
            self.failed = f"{self.page}: the page could not be read"
            self.write(self.style(self.failed, "1;31"))
            self.write(report.longreprtext)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        """Show a block's place and source before it runs.

        Args:
            nodeid: The item's id.
        """
        if item := self.blocks.get(nodeid):
            self.write()
            self.write(self.style(self.place(item), "1"))
            for line in (block_source(item) or "").splitlines():
                self.write(self.style(f"    {line}", "2"))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Show what a block printed, why it was skipped, or how it failed.

        Args:
            report: The report of one phase of one item.
        """
        item = self.blocks.get(report.nodeid)
        if item is None and not report.failed:
            return
        if report.when == "call" and report.passed:
            self.ran += 1
        if report.skipped:
            self.skipped += 1
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else ""
            self.write(self.style(f"skipped: {reason.removeprefix('Skipped: ')}", "33"))
        printed = "".join(
            text for name, text in report.sections if name == f"Captured stdout {report.when}"
        )
        if printed:
            self.write(printed.rstrip("\n"))
        if report.failed:
            where = self.place(item) if item else report.nodeid
            self.failed = f"{where}: failed ({report.when})"
            self.write(self.style(self.failed, "1;31"))
            self.write(report.longreprtext)
            for name, text in report.sections:
                if name.startswith("Captured stderr"):
                    self.write(self.style(f"{name}:", "2"))
                    self.write(text.rstrip("\n"))

    def summary(self) -> str:
        """One line on the run."""
        done = f"{self.ran} ran, {self.skipped} skipped"
        if self.failed:
            return self.style(f"{done}; stopped at {self.failed}", "1;31")
        return self.style(f"{done}: {self.page} passes", "1;32")


def project_root(page: Path) -> Path:
    """The folder of the project's ``pyproject.toml`` above the page, else the current one.

    Args:
        page: The page.

    Returns:
        The project's root.
    """
    for folder in page.resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    return Path.cwd()


def main(argv: list[str] | None = None) -> int:
    """Run a page's blocks and report on each.

    Args:
        argv: The command line (``sys.argv[1:]`` by default).

    Returns:
        0 when the page passes, 1 when a block fails or the page cannot be run.
    """
    parser = argparse.ArgumentParser(
        prog="python -m fashionistar_dev.docs_run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("page", type=Path, help="a Markdown page, e.g. docs/index.md")
    page = parser.parse_args(argv).page
    if page.suffix != ".md" or not page.is_file():
        parser.error(f"{page} is not a Markdown page")
    root = project_root(page)
    if not page.resolve().is_relative_to(root / "docs"):
        parser.error(f"{page} is not under {root / 'docs'}, where the tests find pages")
    report = BlockReport(page, sys.stdout)
    code = pytest.main(
        [
            str(page),
            "-x",
            "--tb=short",
            "-p",
            "no:randomly",
            "--rootdir",
            str(root),
            "-c",
            str(root / "pyproject.toml"),
        ],
        plugins=[report],
    )
    if not report.blocks and not report.failed:
        report.write(f"{page}: no Python block to run")
    report.write(report.summary())
    return 0 if code in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) else 1


if __name__ == "__main__":
    sys.exit(main())
