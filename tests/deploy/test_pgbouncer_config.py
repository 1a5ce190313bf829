"""The deploy PgBouncer file is the stack's template, rendered: committed, parsed, and compared."""

from __future__ import annotations

import configparser

import psycopg
import yaml

from tests.deploy.support import COMPOSE, DEPLOY, K8S, WORKFLOW, load_script, load_yaml

render = load_script(DEPLOY / "pgbouncer" / "render.py")
POOLING_SETTINGS = (
    "pool_mode",
    "default_pool_size",
    "max_client_conn",
    "ignore_startup_parameters",
)


def parse_ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(comment_prefixes=(";",), interpolation=None)
    parser.read_string(text)
    return parser


def test_committed_files_equal_the_rendered_template() -> None:
    assert render.stale_files() == [], "run: uv run python deploy/pgbouncer/render.py"


def test_check_mode_reports_a_stale_file(tmp_path, monkeypatch, capsys) -> None:
    stale = tmp_path / "pgbouncer.ini"
    stale.write_text("pool_mode = session\n")
    monkeypatch.setattr(render, "INI_PATH", stale)
    monkeypatch.setattr(render, "CONFIGMAP_PATH", tmp_path / "missing.yaml")
    assert render.main(["--check"]) == 1
    assert "stale" in capsys.readouterr().err
    assert render.main([]) == 0
    assert render.main(["--check"]) == 0


def test_deploy_ini_parses_with_the_deployment_addresses() -> None:
    ini = parse_ini((DEPLOY / "pgbouncer" / "pgbouncer.ini").read_text())
    assert ini["databases"]["*"] == "host=postgres port=5432"
    settings = ini["pgbouncer"]
    assert (settings["listen_addr"], settings["listen_port"]) == ("0.0.0.0", "6432")
    assert settings["auth_type"] == "scram-sha-256"
    assert settings["pool_mode"] == "transaction"


def test_pooling_settings_match_the_running_stack_pgbouncer(stack) -> None:
    """The test stack's PgBouncer (SHOW CONFIG) runs with the deploy file's pooling settings."""
    deployed = parse_ini((DEPLOY / "pgbouncer" / "pgbouncer.ini").read_text())["pgbouncer"]
    with psycopg.connect(stack.urls.pgbouncer_admin_url, autocommit=True) as admin:
        running = {row[0]: str(row[1]) for row in admin.execute("SHOW CONFIG").fetchall()}
    assert {name: running[name] for name in POOLING_SETTINGS} == {
        name: deployed[name] for name in POOLING_SETTINGS
    }


def test_kubernetes_configmap_carries_the_same_file() -> None:
    configmap = yaml.safe_load((K8S / "pgbouncer-configmap.yaml").read_text())
    assert (
        configmap["data"]["pgbouncer.ini"] == (DEPLOY / "pgbouncer" / "pgbouncer.ini").read_text()
    )


def test_compose_and_ci_mount_the_rendered_file() -> None:
    compose = load_yaml(COMPOSE)
    assert compose["configs"]["pgbouncer-ini"]["file"] == "./pgbouncer/pgbouncer.ini"
    targets = {c["source"]: c["target"] for c in compose["services"]["pgbouncer"]["configs"]}
    assert targets["pgbouncer-ini"] == "/etc/pgbouncer/pgbouncer.ini"
    steps = load_yaml(WORKFLOW)["jobs"]["test"]["steps"]
    assert any("docker cp deploy/pgbouncer/pgbouncer.ini" in step.get("run", "") for step in steps)
