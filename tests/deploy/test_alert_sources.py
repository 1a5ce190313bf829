"""Every metric an alert rule or the HPA reads is exported by something the deploy files run.

The app's own metrics come from the app (``EXPORTED_METRICS``, checked against its real
``/metrics`` in test_metrics.py); each other metric comes from the exporter that
``EXPORTER_METRICS`` names, run from that image and scraped on its port. Compose and Kubernetes
are checked alike: the service or pod must exist, and Prometheus must scrape it there.
"""

from __future__ import annotations

import configparser
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from fashionistar_dev.alert_rules import APP_METRIC_PREFIX, EXPORTER_METRICS, alert_metrics
from tests.deploy.support import (
    COMPOSE,
    DEPLOY,
    EXPORTED_METRICS,
    K8S,
    PGBOUNCER_INI,
    PROMETHEUS,
    SENTINEL_CONF,
    interpolate,
    load_yaml,
    split_image,
)
from tests.production import runtime_stage

services = load_yaml(COMPOSE)["services"]
ALERT_METRICS = sorted(set().union(*alert_metrics().values()))
PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+(-[\w.]+)?$")


def scrape_targets() -> set[str]:
    """Every ``host:port`` that the Compose stack's Prometheus scrapes."""
    return {
        target
        for job in load_yaml(PROMETHEUS)["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }


def pgbouncer_settings() -> configparser.SectionProxy:
    ini = configparser.ConfigParser(comment_prefixes=(";",), interpolation=None)
    ini.read_string(PGBOUNCER_INI.read_text())
    return ini["pgbouncer"]


def compose_servers() -> set[str]:
    """The Compose services (``service:port``) that run one of the image's granian servers."""
    _, _, image_command = runtime_stage()
    found = set()
    for name, service in services.items():
        command = service.get("command", image_command)
        if split_image(service["image"])[0] == "fashionistar" and command[0] == "granian":
            found.add(f"{name}:{command[command.index('--port') + 1]}")
    return found


def compose_sources(metric: str) -> set[str]:
    """The scrape targets (``service:port``) in the Compose stack that export a metric."""
    if metric.startswith(APP_METRIC_PREFIX):
        assert metric in EXPORTED_METRICS, metric
        # Each server (app: the image's default command, WSGI; app-async: ASGI) serves every
        # app metric, its own worker processes' figures.
        servers = compose_servers()
        assert {server.partition(":")[0] for server in servers} == {"app", "app-async"}
        return servers
    exporter = EXPORTER_METRICS[metric]
    return {
        f"{name}:{exporter.port}"
        for name, service in services.items()
        if split_image(service["image"])[0] == exporter.image
    }


@pytest.mark.parametrize("metric", ALERT_METRICS)
def test_every_alert_metric_comes_from_a_compose_service_prometheus_scrapes(metric) -> None:
    sources = compose_sources(metric)
    assert sources, f"no service in docker-compose.yml exports {metric}"
    assert sources <= scrape_targets(), sorted(sources - scrape_targets())


def test_every_scrape_target_is_a_compose_service() -> None:
    for target in scrape_targets():
        host, _, port = target.partition(":")
        assert host in services, target
        assert port.isdigit(), target


def test_the_exporters_listen_on_their_default_port_and_are_pinned() -> None:
    images = {exporter.image for exporter in EXPORTER_METRICS.values()}
    exporters = {
        name: service
        for name, service in services.items()
        if split_image(service["image"])[0] in images
    }
    assert exporters
    for name, service in exporters.items():
        assert PINNED_TAG.match(split_image(service["image"])[1]), service["image"]
        # No flag or variable moves them off the port the scrape job names.
        assert "command" not in service, name
        assert not [key for key in service.get("environment", {}) if "LISTEN" in key], name


def test_the_pgbouncer_exporter_reads_the_admin_console_as_a_stats_user() -> None:
    (name,) = [
        name
        for name, service in services.items()
        if split_image(service["image"])[0] == "prometheuscommunity/pgbouncer-exporter"
    ]
    variables = {"POSTGRES_PASSWORD": "s3cret"}
    connection = services[name]["environment"]["PGBOUNCER_EXPORTER_CONNECTION_STRING"]
    url = urlsplit(interpolate(connection, variables))
    settings = pgbouncer_settings()
    assert (url.hostname, str(url.port)) == ("pgbouncer", settings["listen_port"])
    assert url.path == "/pgbouncer"  # the admin console's database
    assert url.username in settings["stats_users"].split(",")
    userlist = interpolate(
        load_yaml(COMPOSE)["configs"]["pgbouncer-userlist"]["content"], variables
    )
    assert f'"{url.username}" "{url.password}"' in userlist  # SCRAM checks this password
    assert parse_qs(url.query)["sslmode"] == ["disable"]  # PgBouncer has no TLS here
    assert "client_tls_sslmode" not in settings
    # lib/pq sends extra_float_digits at start-up; PgBouncer must ignore it.
    assert "extra_float_digits" in settings["ignore_startup_parameters"].split(",")
    assert services[name]["depends_on"]["pgbouncer"]["condition"] == "service_healthy"


def test_each_sentinel_has_its_own_redis_exporter() -> None:
    port = next(
        line.split()[1]
        for line in SENTINEL_CONF.read_text().splitlines()
        if line.startswith("port ")
    )
    sentinels = {
        name
        for name, service in services.items()
        if "--sentinel" in " ".join(service.get("command", []))
    }
    scraped = {
        service["environment"]["REDIS_ADDR"]
        for service in services.values()
        if split_image(service["image"])[0] == "oliver006/redis_exporter"
    }
    assert scraped == {f"redis://{name}:{port}" for name in sentinels}
    assert len(sentinels) == 3


# --- Kubernetes -------------------------------------------------------------------------------


def k8s_objects(kind: str) -> list[dict[str, Any]]:
    objects = [load_yaml(path) for path in sorted(K8S.glob("*.yaml"))]
    return [obj for obj in objects if obj["kind"] == kind]


def scraped_containers() -> list[tuple[str, dict[str, Any]]]:
    """(Deployment name, container) for each container whose port the pod's annotations name.

    The usual "kubernetes-pods" job of the Prometheus Helm chart scrapes one port per pod: the
    one in ``prometheus.io/port``, on ``prometheus.io/path`` (``/metrics`` by default).
    """
    found = []
    for deployment in k8s_objects("Deployment"):
        template = deployment["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") != "true":
            continue
        assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"
        port = int(annotations["prometheus.io/port"])
        for container in template["spec"]["containers"]:
            if port in {p["containerPort"] for p in container.get("ports", [])}:
                found.append((deployment["metadata"]["name"], container))
    return found


def k8s_sources(metric: str) -> list[str]:
    """The Deployments whose scraped container exports a metric."""
    if metric.startswith(APP_METRIC_PREFIX):
        assert metric in EXPORTED_METRICS, metric
        # The web pods serve every app metric, from the container the annotation names: the
        # image's default command, the WSGI server. Its /metrics counts the ASGI container's
        # processes as well (test_kubernetes_web.py: one multiprocess directory, one PID
        # namespace).
        return [
            name
            for name, container in scraped_containers()
            if split_image(container["image"])[0].endswith("/fashionistar")
            and "command" not in container
        ]
    exporter = EXPORTER_METRICS[metric]
    return [
        name
        for name, container in scraped_containers()
        if split_image(container["image"])[0] == exporter.image
        and exporter.port in {p["containerPort"] for p in container["ports"]}
    ]


@pytest.mark.parametrize("metric", ALERT_METRICS)
def test_every_alert_metric_comes_from_a_pod_the_manifests_annotate_for_prometheus(
    metric,
) -> None:
    assert k8s_sources(metric), f"no Deployment in deploy/k8s exports {metric}"


def test_the_metrics_the_hpa_reads_come_from_the_web_pods() -> None:
    adapter = load_yaml(K8S / "prometheus-adapter-rules.yaml")
    rules = yaml.safe_load(adapter["data"]["config.yaml"])["externalRules"]
    for rule in rules:
        metric = re.match(r"\w+", rule["seriesQuery"])
        assert metric is not None
        assert k8s_sources(metric.group()) == ["web"]


def test_the_exporter_images_in_the_manifests_are_pinned() -> None:
    images = {exporter.image for exporter in EXPORTER_METRICS.values()}
    found = [
        container["image"]
        for deployment in k8s_objects("Deployment")
        for container in deployment["spec"]["template"]["spec"]["containers"]
        if split_image(container["image"])[0] in images
    ]
    assert sorted({split_image(image)[0] for image in found}) == sorted(images)
    for image in found:
        assert PINNED_TAG.match(split_image(image)[1]), image


def test_the_pgbouncer_sidecar_reads_its_own_pgbouncer() -> None:
    (deployment,) = [d for d in k8s_objects("Deployment") if d["metadata"]["name"] == "pgbouncer"]
    containers = {c["name"]: c for c in deployment["spec"]["template"]["spec"]["containers"]}
    assert split_image(containers["exporter"]["image"])[0] == (
        "prometheuscommunity/pgbouncer-exporter"
    )
    (variable,) = containers["exporter"]["env"]
    assert variable["name"] == "PGBOUNCER_EXPORTER_CONNECTION_STRING"
    secret = variable["valueFrom"]["secretKeyRef"]
    # The Secret is not in the repository: the README says what to put in it.
    readme = (DEPLOY / "README.md").read_text()
    line = next(line for line in readme.splitlines() if f"Secret `{secret['name']}`" in line)
    url = urlsplit(re.findall(r"postgres://[^`\s]+", line)[0])
    (pgbouncer_port,) = [p["containerPort"] for p in containers["pgbouncer"]["ports"]]
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", pgbouncer_port, "/pgbouncer")
    assert url.username in pgbouncer_settings()["stats_users"].split(",")
    assert f"`{secret['key']}`" in line


def test_the_sentinel_exporter_asks_the_sentinels_the_app_asks() -> None:
    configmap = load_yaml(K8S / "configmap.yaml")["data"]
    (deployment,) = [
        d for d in k8s_objects("Deployment") if d["metadata"]["name"] == "redis-sentinel-exporter"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    environment = {variable["name"]: variable["value"] for variable in container["env"]}
    assert environment["REDIS_ADDR"] == f"redis://{configmap['REDIS_SENTINELS']}"


def secret_names(node: object) -> set[str]:
    """The Secrets a manifest (or part of one) refers to: env, envFrom and volumes."""
    if isinstance(node, list):
        return set().union(*(secret_names(item) for item in node))
    if not isinstance(node, dict):
        return set()
    names = {
        value["name"]
        for key, value in node.items()
        if key in ("secretRef", "secretKeyRef", "secret") and isinstance(value, dict)
    }
    if isinstance(node.get("secretName"), str):
        names.add(node["secretName"])
    return names.union(*(secret_names(value) for value in node.values()))


def test_every_secret_the_manifests_use_is_described_in_the_readme() -> None:
    names = secret_names([load_yaml(path) for path in sorted(K8S.glob("*.yaml"))])
    assert names == {
        "fashionistar-secrets",
        "pgbouncer-userlist",
        "pgbouncer-exporter",
        "shop-example-com-tls",
    }
    readme = (DEPLOY / "README.md").read_text()
    for name in names:
        assert f"Secret `{name}`" in readme, name
