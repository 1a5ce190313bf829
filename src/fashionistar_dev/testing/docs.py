"""Run the Python blocks of the docs pages with Sybil, and find blocks that would not run.

Sybil's stock Markdown parser only collects fences whose info string is exactly ``python``: a
fence such as ```` ```python title="x.py" ```` or ```` ```py ```` is silently dropped. This
parser collects every Python-family fence, attributes or not, and runs it with top-level
``await`` allowed. :func:`uncollected_python_fences` reads a page on its own and reports any
Python fence that the parser did not collect, so nothing on a page can escape the tests.
"""

from __future__ import annotations

import ast
import doctest
import inspect
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from sybil import Document, Example, Region, Sybil
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

SKIP_DIRECTIVE = re.compile(r"<!--+\s*skip:\s*(?P<arguments>[^\n]*?)\s*--+>")
SKIP_WITH_REASON = re.compile(r'^(?:next|start)\s+"[^"]{8,}"$|^end$')


# --8<-- [start:evaluator]
def evaluate_python(example: Example) -> None:
    """Run one block in its page's namespace; a block may ``await`` at top level.

    An awaiting block is run with ``async_to_sync``: the event loop runs in a helper thread
    while this (the test's) thread serves the block's ``sync_to_async`` calls, so the async
    ORM uses the same database connection as the sync blocks of the page.

    Args:
        example: The Sybil example.
    """
    __tracebackhide__ = True
    source = pad(example.parsed, example.line + example.parsed.line_offset)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(source, example.path, "exec", flags=flags, dont_inherit=True)
    result = eval(code, example.namespace)  # noqa: S307 - running the page's code is the point
    if code.co_flags & inspect.CO_COROUTINE:

        async def finish() -> Any:
            return await result

        async_to_sync(finish)()
    example.namespace.pop("__builtins__", None)


# --8<-- [end:evaluator]


class PythonFenceParser:
    """Collect every Python fence (and ``invisible-code`` comment) of a Markdown page.

    Blocks starting with ``>>>`` are doctests: their printed output is checked.
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
        self.doctest_parser = DocTestStringParser(
            DocTestEvaluator(doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        )

    def __call__(self, document: Document) -> Iterable[Region]:
        """Yield one region per block.

        Args:
            document: The page.

        Yields:
            Regions to evaluate.
        """
        for region in self.lexers(document):
            source = region.lexemes["source"]
            if source.lstrip().startswith(">>>"):
                for doctest_region in self.doctest_parser(source, document.path):
                    doctest_region.adjust(region, source)
                    yield doctest_region
            else:
                region.parsed = source
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
    collected_lines = {_line_of(text, r.start) for r in PythonFenceParser().lexers(document)}
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
    return problems
