"""The site also builds with Zensical: MkDocs 1.x is unmaintained, and the way out stays open."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def zensical_site() -> Iterator[Path]:
    """A folder for Zensical's output: it must be inside the project, so under ``var/``."""
    site = ROOT / "var" / f"zensical-site-{os.getpid()}"
    yield site
    shutil.rmtree(site, ignore_errors=True)


def test_zensical_builds_the_same_pages_strictly(built_site: Path, zensical_site: Path) -> None:
    site = zensical_site
    # Zensical reads mkdocs.yml; a copy next to it (relative paths hold) sends the output there.
    config = ROOT / f".zensical-{os.getpid()}.yml"
    config.write_text((ROOT / "mkdocs.yml").read_text() + f"\nsite_dir: {site}\n")
    try:
        result = subprocess.run(
            [Path(sys.executable).with_name("zensical"), "build", "--strict", "-f", config],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        config.unlink()
    assert result.returncode == 0, result.stdout + result.stderr

    def pages(root: Path) -> set[str]:
        return {page.relative_to(root).as_posix() for page in root.rglob("index.html")}

    assert pages(site) == pages(built_site)
    page = (site / "how-docs-are-tested" / "index.html").read_text()
    assert "evaluate_python" in page  # code included from src/ with pymdownx.snippets
    # The theme's overrides (custom_dir) apply too: Mermaid on the diagram's page only.
    assert "vendor/mermaid-11.17.2.min.js" in (site / "architecture" / "index.html").read_text()
    assert "vendor/mermaid-11.17.2.min.js" not in (site / "index.html").read_text()
