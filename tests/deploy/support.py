"""Shared helpers for the deploy-file checks: paths, YAML, check-jsonschema run in-process."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from check_jsonschema.cli.main_command import main as check_jsonschema_main
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = DEPLOY / "schemas" / "kubernetes"
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
COMPOSE = DEPLOY / "docker-compose.yml"


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
