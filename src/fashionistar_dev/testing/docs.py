"""Run the Python blocks of the docs pages with Sybil, and find blocks that would not run.

Sybil's stock Markdown parser only collects fences whose info string is exactly ``python``: a
fence such as ```` ```python title="x.py" ```` or ```` ```py ```` is silently dropped. This
parser collects every Python-family fence, attributes or not, and runs it with top-level
``await`` allowed. :func:`uncollected_python_fences` reads a page on its own and reports any
Python fence that the parser did not collect, so nothing on a page can escape the tests.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import doctest
import inspect
import io
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from sybil import Document, Example, Lexeme, Region, Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.evaluators.python import pad
from sybil.parsers.abstract.doctest import DocTestStringParser
from sybil.parsers.abstract.lexers import LexerCollection
from sybil.parsers.markdown import ClearNamespaceParser, SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, FencedCodeBlockLexer

PYTHON_INFO = r"[ \t]*\{?\.?(?:python3?|py|pycon)\b[^\n]*"
"""Info strings of the fences this parser runs: ``python``, ``py``, with or without attributes."""

ANY_PYTHON_FENCE = re.compile(
    r"^[ \t>]*(?:[-*+]|\d+[.)])?[ \t]*(?:`{3,}|~{3,})[ \t]*\{?[ \t]*\.?(?:python|py)\w*",
    re.MULTILINE | re.IGNORECASE,
)
"""Any fence a reader would take for Python, found without Sybil (for the guard)."""

OUTPUT_INFO = r'[ \t]*text[ \t]+title="Output"[ \t]*'
"""The info string of an Output fence: what the Python block right above it prints."""
OUTPUT_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
OUTPUT_CHECKER = doctest.OutputChecker()

SKIP_DIRECTIVE = re.compile(r"<!--+\s*skip:\s*(?P<arguments>[^\n]*?)\s*--+>")
SKIP_WITH_REASON = re.compile(r'^(?:next|start)\s+"[^"]{8,}"$|^end$')


# --8<-- [start:evaluator]
def run_python(example: Example) -> str:
    """Run one block in its page's namespace; a block may ``await`` at top level.

    An awaiting block is run with ``async_to_sync``: the event loop runs in a helper thread
    while this (the test's) thread serves the block's ``sync_to_async`` calls, so the async
    ORM uses the same database connection as the sync blocks of the page. What the block
    prints, from either thread, is captured, then written on to standard output.

    Args:
        example: The Sybil example; its ``parsed`` is a :class:`PythonBlock`.

    Returns:
        What the block printed.
    """
    __tracebackhide__ = True
    block: PythonBlock = example.parsed
    source = pad(block.source, example.line + block.source.line_offset)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(source, example.path, "exec", flags=flags, dont_inherit=True)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            result = eval(code, example.namespace)  # noqa: S307 - running the page's code is the point
            if code.co_flags & inspect.CO_COROUTINE:

                async def finish() -> Any:
                    return await result

                async_to_sync(finish)()
    finally:
        example.namespace.pop("__builtins__", None)
        sys.stdout.write(printed.getvalue())
    return printed.getvalue()


def evaluate_python(example: Example) -> str | None:
    """Run one block and hold what it prints to the Output block the page shows under it.

    Args:
        example: The Sybil example.

    Returns:
        Why the output does not match, or ``None`` when it does.
    """
    __tracebackhide__ = True
    return output_mismatch(shown=example.parsed.output, printed=run_python(example))


def output_mismatch(*, shown: str | None, printed: str) -> str | None:
    """Compare what a block printed with the page's Output block, as doctest compares.

    ``...`` in the Output block stands for any text, and runs of whitespace compare equal.

    Args:
        shown: The Output block's text; ``None`` when the page shows none.
        printed: What the block printed.

    Returns:
        The problem, with a diff; ``None`` when the output is as shown.
    """
    if shown is None:
        if not printed:
            return None
        return (
            'the block prints but the page does not show it: add a ```text title="Output"'
            f" fence right under it with:\n{printed}"
        )
    if OUTPUT_CHECKER.check_output(shown, printed, OUTPUT_FLAGS):
        return None
    diff = difflib.unified_diff(
        shown.splitlines(keepends=True),
        printed.splitlines(keepends=True),
        fromfile="the Output block",
        tofile="what the block printed",
    )
    return "the block printed something else than its Output block:\n" + "".join(diff)


# --8<-- [end:evaluator]


@dataclass(frozen=True)
class PythonBlock:
    """A Python block, and the Output block the page shows right under it, if any."""

    source: Lexeme
    output: str | None


class PythonFenceParser:
    """Collect every Python fence (and ``invisible-code`` comment) of a Markdown page.

    Blocks starting with ``>>>`` are doctests: their printed output is checked. Any other
    block is run by :func:`evaluate_python`, which checks its printed output against the
    Output fence (```` ```text title="Output" ````) that follows it with only blank lines
    between.
    """

    def __init__(self) -> None:
        """Set up the lexers and the doctest parser."""
        self.lexers = LexerCollection(
            [
                FencedCodeBlockLexer(PYTHON_INFO, mapping={"source": "source"}),
                DirectiveInHTMLCommentLexer(
                    directive=r"invisible-code(?:-block)?", arguments=PYTHON_INFO
                ),
            ]
        )
        self.output_lexer = FencedCodeBlockLexer(OUTPUT_INFO, mapping={"source": "source"})
        self.doctest_parser = DocTestStringParser(
            DocTestEvaluator(doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        )

    def output_blocks(self, document: Document) -> tuple[dict[int, Region], list[Region]]:
        """Pair each Output fence with the Python block right above it.

        Args:
            document: The page.

        Returns:
            The Output regions by the start of the Python region they belong to, and the
            Output regions that belong to no Python block the tests run as a whole (none above
            it, or a ``>>>`` session, which shows its own output).
        """
        blocks = list(self.lexers(document))
        paired: dict[int, Region] = {}
        orphans = []
        for output in self.output_lexer(document):
            above = [block for block in blocks if block.end <= output.start]
            block = max(above, key=lambda region: region.end, default=None)
            if (
                block is None
                or document.text[block.end : output.start].strip()
                or block.lexemes["source"].lstrip().startswith(">>>")
            ):
                orphans.append(output)
            else:
                paired[block.start] = output
        return paired, orphans

    def __call__(self, document: Document) -> Iterable[Region]:
        """Yield one region per block.

        Args:
            document: The page.

        Yields:
            Regions to evaluate.
        """
        outputs, _ = self.output_blocks(document)
        for region in self.lexers(document):
            source = region.lexemes["source"]
            if source.lstrip().startswith(">>>"):
                for doctest_region in self.doctest_parser(source, document.path):
                    doctest_region.adjust(region, source)
                    yield doctest_region
            else:
                output = outputs.get(region.start)
                shown = None if output is None else str(output.lexemes["source"])
                region.parsed = PythonBlock(source=source, output=shown)
                region.evaluator = evaluate_python
                yield region


def docs_sybil(*, docs_dir: Path, fixtures: tuple[str, ...] = ()) -> Sybil:
    """Build the Sybil that runs ``docs/**/*.md``.

    Args:
        docs_dir: The folder of the pages.
        fixtures: pytest fixtures every block gets in its namespace.

    Returns:
        The configured Sybil.
    """
    return Sybil(
        parsers=[PythonFenceParser(), SkipParser(), ClearNamespaceParser()],
        path=str(docs_dir.resolve()),
        patterns=["*.md"],
        fixtures=fixtures,
    )


@dataclass(frozen=True)
class FenceProblem:
    """A Python fence or skip directive that breaks the rule "every block runs or says why not"."""

    path: Path
    line: int
    text: str
    problem: str

    def __str__(self) -> str:
        """Return ``path:line: problem: text``."""
        return f"{self.path}:{self.line}: {self.problem}: {self.text.strip()}"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def fence_problems(path: Path) -> list[FenceProblem]:
    """Check one page: each Python fence is collected, each skip gives a reason.

    Args:
        path: The Markdown page.

    Returns:
        The problems found; empty when the page is sound.
    """
    text = path.read_text()
    document = Document(text, str(path))
    parser = PythonFenceParser()
    collected_lines = {_line_of(text, r.start) for r in parser.lexers(document)}
    problems = [
        FenceProblem(
            path, _line_of(text, m.start()), m.group(0), "Python fence the docs tests do not run"
        )
        for m in ANY_PYTHON_FENCE.finditer(text)
        if _line_of(text, m.start()) not in collected_lines
    ]
    problems += [
        FenceProblem(
            path,
            _line_of(text, m.start()),
            m.group(0),
            'skip without a reason (write <!-- skip: next "why it cannot run" -->)',
        )
        for m in SKIP_DIRECTIVE.finditer(text)
        if not SKIP_WITH_REASON.match(m.group("arguments"))
    ]
    problems += [
        FenceProblem(
            path,
            _line_of(text, output.start),
            text[output.start :].split("\n", 1)[0],
            "Output block with no Python block right above it (a >>> session shows its own)",
        )
        for output in parser.output_blocks(document)[1]
    ]
    return problems
