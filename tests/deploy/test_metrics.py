"""Every metric the deploy files use is one the app really exports on /metrics.

``EXPORTED_METRICS`` is the one list of metric names the deploy files may use (the HPA, the
prometheus-adapter rule, the alert rules, the Grafana dashboard). The last test reads the app's
real ``/metrics`` endpoint and finds each of them there.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.test import Client

from tests.deploy.support import DEPLOY, EXPORTED_METRICS, K8S, load_yaml

HPA_METRIC = "fashionistar_task_queue_depth"
USERS = [
    K8S / "hpa.yaml",
    K8S / "prometheus-adapter-rules.yaml",
    DEPLOY / "prometheus" / "alerts.yml",
    DEPLOY / "grafana" / "dashboards" / "fashionistar.json",
]
METRIC_NAME = re.compile(r"\bfashionistar_[a-z0-9_]+")
HISTOGRAM_SERIES = re.compile(r"_(bucket|count|sum)$")


def metric_names(text: str) -> set[str]:
    """Metric names in a file, a histogram's ``_bucket``/``_count``/``_sum`` series folded."""
    return {HISTOGRAM_SERIES.sub("", name) for name in METRIC_NAME.findall(text)}


def test_deploy_files_use_only_exported_metrics() -> None:
    used = set().union(*(metric_names(path.read_text()) for path in USERS))
    assert used == EXPORTED_METRICS


def test_hpa_asks_for_the_metric_the_adapter_serves() -> None:
    hpa = load_yaml(K8S / "hpa.yaml")
    external = [m["external"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert [e["metric"]["name"] for e in external] == [HPA_METRIC]
    adapter = load_yaml(K8S / "prometheus-adapter-rules.yaml")
    rules = yaml.safe_load(adapter["data"]["config.yaml"])["externalRules"]
    assert [rule["name"]["as"] for rule in rules] == [HPA_METRIC]
    assert metric_names(rules[0]["seriesQuery"]) == {HPA_METRIC}
    assert rules[0]["metricsQuery"].startswith("max by (queue)")  # every web pod exports it


def test_hpa_scales_the_workers_from_3_to_50_fast_up_slow_down() -> None:
    spec = load_yaml(K8S / "hpa.yaml")["spec"]
    assert (
        spec["scaleTargetRef"]["name"]
        == load_yaml(K8S / "worker-deployment.yaml")["metadata"]["name"]
    )
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 50)
    kinds = {m["resource"]["name"] for m in spec["metrics"] if m["type"] == "Resource"}
    assert kinds == {"cpu", "memory"}
    up, down = spec["behavior"]["scaleUp"], spec["behavior"]["scaleDown"]
    assert up["stabilizationWindowSeconds"] < down["stabilizationWindowSeconds"]
    assert max(p["periodSeconds"] for p in up["policies"]) < min(
        p["periodSeconds"] for p in down["policies"]
    )


def test_dashboard_shows_request_latency_queue_depth_and_task_latency() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "fashionistar.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in metric_names(target["expr"])
    }
    assert {
        "fashionistar_http_request_duration_seconds",
        "fashionistar_task_queue_depth",
        "fashionistar_task_duration_seconds",
    } <= queried


@pytest.mark.django_db
def test_app_metrics_endpoint_exports_every_name() -> None:
    """Needs the app's /metrics (fashionistar.observability): it fails, not skips, without it."""
    response = Client().get("/metrics")
    assert response.status_code == 200, response.status_code
    exported = set(re.findall(r"^# TYPE (\S+) ", response.content.decode(), re.MULTILINE))
    assert exported >= EXPORTED_METRICS, sorted(EXPORTED_METRICS - exported)
