"""Measure type hints and docstrings in ``src/``: what mypy --strict and ruff say, and shares.

Prints, for ``src/fashionistar`` (migrations left out):

- the errors of ``mypy --strict src`` (with the project's configuration and Django plugin);
- the violations of ruff's docstring rules (``D``, Google convention, the project's ignores);
- the share of functions whose parameters and return are all annotated (the way mypy's
  ``disallow_untyped_defs`` and ``disallow_incomplete_defs`` count them), of all functions
  and of public ones;
- the share of functions with a docstring, of all functions and of public ones (pydocstyle's
  "public": not starting with ``_``, not nested in a function, in a public class);
- the ``# type: ignore`` comments, each of which hides something from mypy, by error code.

A static count of today's code: it needs no stack and no quiet machine.

Usage: ``uv run python benchmarks/typing_coverage.py [--json out.json] [--markdown PATH]``;
Principle 7 includes ``--markdown docs/assets/typing.md.txt``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "fashionistar"
# django-stubs imports the settings: placeholders, nothing connects (as in the Makefile).
PLACEHOLDERS = {
    "DJANGO_SECRET_KEY": "typing",
    "DATABASE_URL": "postgres://typing@localhost/typing",
    "REDIS_URL": "redis://localhost",
}
TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore(?:\[(?P<codes>[^\]]*)\])?")
SILENCES = {
    "no-untyped-call": "a call into a library function that has no annotations",
    "attr-defined": "an attribute read or set on an object whose class does not declare it",
    "misc": "mypy's catch-all code (an `await` or a `super()` call it cannot follow)",
    "type-arg": "a generic class used without its type arguments",
    "type-var": "a value mypy will not accept for a type variable",
    "method-assign": "a method replaced on an object",
    "": "every error on the line (no code given)",
}
"""What a ``# type: ignore[code]`` tells mypy to overlook, for the codes seen in ``src/``."""


@dataclass
class Functions:
    """Counts over function definitions."""

    total: int = 0
    annotated: int = 0
    documented: int = 0
    public: int = 0
    public_annotated: int = 0
    public_documented: int = 0
    not_annotated: list[str] = field(default_factory=list)
    public_undocumented: list[str] = field(default_factory=list)


def fully_annotated(node: ast.FunctionDef | ast.AsyncFunctionDef, *, method: bool) -> bool:
    """Tell whether every parameter and the return are annotated, as mypy --strict wants.

    Args:
        node: The definition.
        method: Whether it is defined in a class (its first parameter needs no annotation).

    Returns:
        Whether it is complete. ``__init__`` may omit ``-> None`` when a parameter is annotated.
    """
    arguments = node.args
    parameters = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    if method and not is_static and parameters:
        parameters = parameters[1:]
    parameters += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
    if any(p.annotation is None for p in parameters):
        return False
    if node.returns is not None:
        return True
    return node.name == "__init__" and bool(parameters)


def scan(path: Path, counts: Functions) -> None:
    """Count the functions of one file.

    Args:
        path: The file.
        counts: Updated in place.
    """
    tree = ast.parse(path.read_text(), str(path))

    def visit(node: ast.AST, *, in_class: bool, public_scope: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                public = public_scope and not child.name.startswith("_")
                visit(child, in_class=True, public_scope=public)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                annotated = fully_annotated(child, method=in_class)
                documented = ast.get_docstring(child) is not None
                public = public_scope and not child.name.startswith("_")
                counts.total += 1
                counts.annotated += annotated
                counts.documented += documented
                counts.public += public
                counts.public_annotated += public and annotated
                counts.public_documented += public and documented
                where = f"{path.relative_to(ROOT)}:{child.lineno} {child.name}"
                if not annotated:
                    counts.not_annotated.append(where)
                if public and not documented:
                    counts.public_undocumented.append(f"{where} (no docstring)")
                visit(child, in_class=False, public_scope=False)
            else:
                visit(child, in_class=in_class, public_scope=public_scope)

    visit(tree, in_class=False, public_scope=True)


def type_ignores(path: Path) -> dict[str, list[int]]:
    """Find the ``# type: ignore`` comments of one file.

    Args:
        path: The file.

    Returns:
        The lines of the comments, by mypy error code (``""`` for a comment without one).
    """
    found: dict[str, list[int]] = defaultdict(list)
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for match in TYPE_IGNORE.finditer(line):
            for code in (match["codes"] or "").split(","):
                found[code.strip()].append(number)
    return found


def mypy_strict_errors() -> list[str]:
    """Run ``mypy --strict src``.

    Returns:
        Its error lines.
    """
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "src"],
        cwd=ROOT, env={**os.environ, **PLACEHOLDERS}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return [line for line in result.stdout.splitlines() if ": error:" in line]


def ruff_docstring_violations() -> list[str]:
    """Run ruff over ``src`` with the project's configuration; keep the docstring rules (``D``).

    Returns:
        One ``path:line code`` per violation.
    """
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "json", "src"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return [
        f"{Path(v['filename']).relative_to(ROOT)}:{v['location']['row']} {v['code']}"
        for v in json.loads(result.stdout or "[]")
        if str(v["code"]).startswith("D")
    ]


def share(part: int, whole: int) -> str:
    """Format ``part / whole`` as a percentage with the counts.

    Args:
        part: The count.
        whole: Out of.

    Returns:
        ``"98.7% (150/152)"``.
    """
    return f"{100 * part / whole:.1f}% ({part}/{whole})" if whole else "n/a"


def markdown(
    *,
    figures: dict[str, object],
    counts: Functions,
    ignores: dict[str, dict[str, list[int]]],
) -> str:
    """Write the figures as the Markdown that Principle 7 includes.

    Args:
        figures: What :func:`main` prints.
        counts: The function counts.
        ignores: ``# type: ignore`` lines by error code, then by file.

    Returns:
        A first line saying when it was counted, then the tables.
    """
    today = datetime.now(UTC).date().isoformat()
    rows = [
        ("`mypy --strict src`: errors", figures["mypy_strict_errors"]),
        ("ruff's docstring rules (`D`, Google convention): violations",
         figures["ruff_docstring_violations"]),
        ("functions fully annotated", figures["fully_annotated"]),
        ("public functions fully annotated", figures["public_fully_annotated"]),
        ("public functions with a docstring", figures["public_with_docstring"]),
        ("all functions with a docstring", figures["with_docstring"]),
        ("`# type: ignore` comments", figures["type_ignore_comments"]),
    ]  # fmt: skip
    lines = [
        f"Counted on {today}, on the code of that day: {figures['files']} files of "
        "`src/fashionistar`, migrations left out "
        "(`uv run python benchmarks/typing_coverage.py --markdown docs/assets/typing.md.txt`).",
        "",
        "| measure | count |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    if counts.public_undocumented:
        names = ", ".join(f"`{where.removesuffix(' (no docstring)')}`"
                          for where in counts.public_undocumented)  # fmt: skip
        lines += [f"Public functions without a docstring: {names}.", ""]
    lines += [
        "| `# type: ignore[code]` | comments with it | what mypy is told to overlook | where |",
        "|---|---|---|---|",
    ]
    by_size = sorted(ignores.items(), key=lambda item: (-sum(map(len, item[1].values())), item[0]))
    for code, files in by_size:
        where = "; ".join(
            f"`{path}` {', '.join(map(str, numbers))}" for path, numbers in sorted(files.items())
        )
        meaning = SILENCES.get(code, "see mypy's list of error codes")
        lines.append(
            f"| `{code or '(none)'}` | {sum(map(len, files.values()))} | {meaning} | {where} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Measure and print.

    Returns:
        0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--markdown", type=Path, help="also write them as the Markdown Principle 7 includes"
    )
    args = parser.parse_args()
    files = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)
    counts = Functions()
    ignores: dict[str, dict[str, list[int]]] = defaultdict(dict)
    comments = 0
    for path in files:
        scan(path, counts)
        comments += len(TYPE_IGNORE.findall(path.read_text()))
        for code, numbers in type_ignores(path).items():
            ignores[code][str(path.relative_to(PACKAGE))] = numbers
    mypy_errors = mypy_strict_errors()
    ruff_d = ruff_docstring_violations()
    figures: dict[str, object] = {
        "files": len(files),
        "mypy_strict_errors": len(mypy_errors),
        "ruff_docstring_violations": len(ruff_d),
        "functions": counts.total,
        "fully_annotated": share(counts.annotated, counts.total),
        "public_fully_annotated": share(counts.public_annotated, counts.public),
        "with_docstring": share(counts.documented, counts.total),
        "public_with_docstring": share(counts.public_documented, counts.public),
        "type_ignore_comments": comments,
    }
    for name, value in figures.items():
        print(f"{name:28} {value}")
    for line in [*mypy_errors, *ruff_d, *counts.not_annotated, *counts.public_undocumented]:
        print(f"  {line}")
    if args.json:
        args.json.write_text(json.dumps({**figures, **asdict(counts)}, indent=2))
    if args.markdown:
        args.markdown.write_text(markdown(figures=figures, counts=counts, ignores=ignores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
