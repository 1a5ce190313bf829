"""The alert rules: valid for promtool, firing on the series they watch, on metrics that exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from fashionistar_dev.alert_rules import (
    ALERTS_FILE,
    APP_METRIC_PREFIX,
    EXPORTER_METRICS,
    alert_metrics,
    alert_rules,
    promql_metric_names,
)
from fashionistar_dev.processes import free_port
from fashionistar_dev.stack.redis_ha import start_redis_ha
from tests.deploy.support import EXPORTED_METRICS
from tests.ops.support import debian_program
from tests.processes import ROOT, spawn, stop, wait_for

RULE_TESTS = Path(__file__).with_name("alert_rules_test.yml")
RUNBOOK = ROOT / "docs" / "operations" / "runbook.md"


@pytest.fixture(scope="module")
def promtool() -> str:
    return debian_program("promtool", "prometheus")


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_promtool_finds_the_rules_valid(promtool) -> None:
    checked = run(promtool, "check", "rules", ALERTS_FILE)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout


def test_promtool_rejects_a_rule_that_does_not_parse(promtool, tmp_path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text(ALERTS_FILE.read_text().replace("[5m]))", "[5m])", 1))
    checked = run(promtool, "check", "rules", broken)
    assert checked.returncode != 0
    assert "FAILED" in checked.stdout + checked.stderr


def test_every_alert_fires_on_its_series_and_not_on_healthy_ones(promtool) -> None:
    tested = run(promtool, "test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    names = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert names == set(alert_metrics())


def test_the_rule_tests_catch_a_wrong_threshold(promtool, tmp_path) -> None:
    (tmp_path / "alerts.yml").write_text(ALERTS_FILE.read_text().replace("> 0.01", "> 0.5"))
    tests = RULE_TESTS.read_text().replace("../../deploy/prometheus/alerts.yml", "alerts.yml")
    (tmp_path / RULE_TESTS.name).write_text(tests)
    tested = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert tested.returncode != 0
    assert "HttpErrorRateHigh" in tested.stdout + tested.stderr


def test_every_metric_an_alert_reads_has_a_known_source() -> None:
    used = set().union(*alert_metrics().values())
    from_app = {name for name in used if name.startswith(APP_METRIC_PREFIX)}
    assert from_app <= EXPORTED_METRICS, sorted(from_app - EXPORTED_METRICS)
    assert used - from_app == set(EXPORTER_METRICS)


@pytest.mark.django_db
def test_the_app_really_exports_the_metrics_the_alerts_read() -> None:
    text = Client().get("/metrics").content.decode()
    exported = {family.name for family in text_string_to_metric_families(text)}
    used = set().union(*alert_metrics().values())
    assert {name for name in used if name.startswith(APP_METRIC_PREFIX)} <= exported


def test_each_alert_links_its_runbook_section() -> None:
    headings = set(re.findall(r"^## (\w+)$", RUNBOOK.read_text(), re.MULTILINE))
    for rule in alert_rules():
        assert rule["alert"] in headings, rule["alert"]
        anchor = f"docs/operations/runbook.md#{rule['alert'].lower()}"
        assert rule["annotations"]["runbook"] == anchor


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="y{z}"}[5m]))', {"a"}),
        ("max by (queue) (b) > 0 and on (queue) max by (queue) (c) == 0", {"b", "c"}),
        ("d offset 10m unless on (instance) e > 1e3", {"d", "e"}),
        ("histogram_quantile(0.95, sum(rate(f_count[5m])) by (le))", {"f"}),
    ],
)
def test_metric_names_are_read_from_promql(expr, names) -> None:
    assert promql_metric_names(expr) == names


def sentinel_masters(url: str) -> set[tuple[str, str]]:
    text = httpx.get(url, timeout=5).text
    return {
        (sample.labels["master_name"], sample.labels["master_address"])
        for family in text_string_to_metric_families(text)
        if family.name == "redis_sentinel_master_status"
        for sample in family.samples
    }


def test_the_redis_exporter_reports_the_master_address_and_its_change() -> None:
    """The metric RedisMasterChanged reads, from the real exporter, across a real failover."""
    exporter = debian_program("prometheus-redis-exporter", "prometheus-redis-exporter")
    with start_redis_ha() as ha:
        host, port = ha.sentinels[0]
        url = f"http://127.0.0.1:{free_port()}/metrics"
        process = spawn(
            [
                exporter,
                "-redis.addr",
                f"redis://{host}:{port}",
                "-web.listen-address",
                url.removeprefix("http://").removesuffix("/metrics"),
                "-redis-only-metrics",
            ]
        )
        try:
            wait_for(lambda: sentinel_masters(url), 20, errors=(httpx.TransportError,))
            before = sentinel_masters(url)
            old_host, old_port = ha.kill_master()
            ha.wait_for_failover()
            new_host, new_port = ha.master_address()
            wait_for(lambda: sentinel_masters(url) != before, 20)
            after = sentinel_masters(url)
        finally:
            stop(process)
    assert before == {(ha.master_name, f"{old_host}:{old_port}")}
    assert after == {(ha.master_name, f"{new_host}:{new_port}")}
