"""Run the Python blocks of the docs pages with Sybil, and find blocks that would not run.

Sybil's stock Markdown parser only collects fences whose info string is exactly ``python``: a
fence such as ```` ```python title="x.py" ```` or ```` ```py ```` is silently dropped. This
parser collects every Python-family fence, attributes or not, runs it with top-level ``await``
allowed, and compares what it prints with the Output fence under it. :func:`fence_problems`
reads a page on its own (with markdown-it) and reports any Python the parser did not collect:
a Python fence it dropped, or Python in an untagged, ``text`` or shell fence, after
``python -c``, or in an indented code block. So nothing on a page can escape the tests.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import doctest
import inspect
import io
import re
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asgiref.sync import async_to_sync
from markdown_it import MarkdownIt
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

CONTAINER = re.compile(r"^(?P<indent>[ \t]*)(?:!!!|\?\?\?\+?|===\+?)(?:[ \t]+(?P<title>.*))?$")
"""The first line of a pymdownx admonition, collapsible block or content tab."""

NOT_PYTHON = frozenset(
    {"mermaid", "yaml", "yml", "toml", "json", "sql", "ini", "promql", "dockerfile", "output"}
)
"""Fence languages the guard does not read for Python (``output``: an Output fence)."""

PYTHON_NODES = (
    ast.Import,
    ast.ImportFrom,
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Await,
    ast.AsyncFor,
    ast.AsyncWith,
)
"""Statements only Python has: a fence body that parses and holds one of them is Python."""

PYTHON_COMMAND = re.compile(r"(?:^|/)python[\d.]*$")
HEREDOC = re.compile(r"\bpython[\d.]*\s+(?:-\s+)?<<-?\s*(?P<quote>['\"]?)\w+(?P=quote)")

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
    """A block or directive that breaks the rule "every block runs or says why not"."""

    path: Path
    line: int
    text: str
    problem: str

    def __str__(self) -> str:
        """Return ``path:line: problem: text``."""
        return f"{self.path}:{self.line}: {self.problem}: {self.text.strip()}"


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


@dataclass(frozen=True)
class MarkdownBlock:
    """A leaf block of a page, as markdown-it reads it, with its lines in the page.

    ``kind`` is markdown-it's token type: ``inline`` (the text of a paragraph, heading or table
    row), ``fence``, ``code_block`` (indented code) or ``html_block``.
    """

    kind: str
    language: str
    info: str
    first: int
    last: int
    content: str


def without_containers(text: str) -> str:
    """Turn pymdownx admonitions, collapsible blocks and tabs into plain Markdown, line for line.

    Their bodies are indented by four spaces, which plain Markdown reads as indented code. The
    first line becomes a heading (its title stays on its line) and each body line loses four
    spaces per block it is in, so line numbers stay those of the page.

    Args:
        text: A page's Markdown.

    Returns:
        The same number of lines, in plain Markdown.
    """
    lines: list[str] = []
    open_indents: list[int] = []
    for line in text.splitlines():
        if not line.strip():
            lines.append("")
            continue
        indent = len(line) - len(line.lstrip())
        while open_indents and indent < open_indents[-1] + 4:
            open_indents.pop()
        body = line[4 * len(open_indents) :]
        if container := CONTAINER.match(body):
            open_indents.append(indent)
            body = f"{container['indent']}###### {container['title'] or ''}"
        lines.append(body)
    return "\n".join(lines) + "\n"


def markdown_blocks(text: str) -> list[MarkdownBlock]:
    """Read a page's leaf blocks with markdown-it (CommonMark and tables), in page order.

    Args:
        text: A page's Markdown.

    Returns:
        The blocks; ``first`` and ``last`` are 1-based line numbers in ``text``.
    """
    parser = MarkdownIt("commonmark").enable("table")
    blocks = []
    for token in parser.parse(without_containers(text)):
        if token.type in {"inline", "fence", "code_block", "html_block"} and token.map:
            info = token.info.strip()
            language = re.sub(r"^\{?\.?", "", info).split(" ", 1)[0].split("}", 1)[0].lower()
            if re.fullmatch(OUTPUT_INFO, info):
                language = "output"
            blocks.append(
                MarkdownBlock(
                    kind=token.type,
                    language=language,
                    info=info,
                    first=token.map[0] + 1,
                    last=token.map[1],
                    content=token.content,
                )
            )
    return blocks


def parses_as_python(code: str) -> ast.Module | None:
    """Parse code as a page block is parsed (``await`` at top level is fine).

    Args:
        code: The code.

    Returns:
        Its syntax tree, or ``None`` when it is not Python.
    """
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def looks_like_python(code: str) -> bool:
    """Tell whether a block is Python a reader would run, not a shell command or output.

    Args:
        code: A block's text.

    Returns:
        ``True`` for a ``>>>`` session, or code that parses and holds a statement only Python
        has (an import, a definition, ``await``, a ``print()`` call).
    """
    if any(line.lstrip().startswith(">>>") for line in code.splitlines()):
        return True
    tree = parses_as_python(code)
    return tree is not None and any(
        isinstance(node, PYTHON_NODES)
        or (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print")
        for node in ast.walk(tree)
    )


def python_in_commands(commands: str) -> list[str]:
    """Find the Python that shell commands hand to ``python -c``, ``shell -c`` or a heredoc.

    Args:
        commands: A shell block's text.

    Returns:
        The pieces of Python found.
    """
    found = [m.group(0) for m in HEREDOC.finditer(commands)]
    try:
        words = shlex.split(commands, comments=True)
    except ValueError:  # an unbalanced quote: read the lines that split
        words = [word for line in commands.splitlines() for word in _words(line)]
    found += [
        words[at + 1]
        for at in range(1, len(words) - 1)
        if words[at] == "-c"
        and (PYTHON_COMMAND.search(words[at - 1]) or words[at - 1] == "shell")
        and parses_as_python(words[at + 1]) is not None
    ]
    return found


def _words(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return []


def hidden_python(block: MarkdownBlock) -> str | None:
    """Say how a block that is not a Python fence holds Python, if it does.

    Args:
        block: A fence, indented code block or other leaf block.

    Returns:
        What was found, or ``None``.
    """
    if block.kind == "code_block" and looks_like_python(block.content):
        return "Python in an indented code block"
    if block.kind != "fence" or block.language in NOT_PYTHON:
        return None
    if re.fullmatch(r"py\w*|python\w*|pycon", block.language):
        return None
    shown = f"a ```{block.info}``` fence" if block.info else "an untagged fence"
    if looks_like_python(block.content):
        return f"Python in {shown}"
    if python_in_commands(block.content):
        return f"Python handed to python -c, shell -c or a heredoc in {shown}"
    return None


def fence_problems(path: Path) -> list[FenceProblem]:
    """Check one page: all its Python runs or says why not, and each Output fence has its block.

    Problems: a Python fence the parser does not collect, a skip without a reason, an Output
    fence with no Python block right above it, Python in another fence or in indented code.

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
    lines = text.splitlines()
    problems += [
        FenceProblem(
            path,
            block.first,
            lines[block.first - 1],
            f"{found} that the docs tests do not run (make it a python fence)",
        )
        for block in markdown_blocks(text)
        if (found := hidden_python(block))
    ]
    return problems
