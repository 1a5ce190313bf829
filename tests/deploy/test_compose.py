"""The Compose file: valid against the Compose specification, and coherent with the app."""

from __future__ import annotations

from tests.deploy.support import COMPOSE, DEPLOY, check_jsonschema, load_yaml

QUEUES = ("emails", "critical", "analytics")
# The variables fashionistar.settings_production reads (DATABASE_URL goes through PgBouncer).
APP_VARIABLES = {
    "DJANGO_SETTINGS_MODULE",
    "DJANGO_SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    "DJANGO_ALLOWED_HOSTS",
    "PAYMENT_GATEWAY_URL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_SERVICE_NAME",
}
compose = load_yaml(COMPOSE)
services = compose["services"]


def test_compose_file_validates_against_the_compose_specification() -> None:
    code, output = check_jsonschema("--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert code == 0, output


def test_compose_schema_rejects_a_wrong_file(tmp_path) -> None:
    wrong = tmp_path / "compose.yml"
    wrong.write_text("services:\n  app:\n    image: x\n    comand: [run]\n")  # a typo
    code, output = check_jsonschema("--builtin-schema", "vendor.compose-spec", str(wrong))
    assert code == 1
    assert "comand" in output


def test_the_whole_stack_is_there() -> None:
    assert {
        "postgres",
        "pgbouncer",
        "redis-master",
        "redis-replica",
        "sentinel-1",
        "sentinel-2",
        "sentinel-3",
        "app",
        "otel-collector",
        "jaeger",
        "prometheus",
        "grafana",
    } <= set(services)


def test_app_runs_the_asgi_server_and_one_worker_serves_each_queue() -> None:
    assert "command" not in services["app"]  # the image's default: uvicorn
    for queue in QUEUES:
        worker = services[f"worker-{queue}"]
        assert worker["command"] == ["python", "manage.py", "run_worker", queue]
        assert worker["image"] == services["app"]["image"]


def test_app_and_workers_get_every_setting_and_reach_postgres_through_pgbouncer() -> None:
    for name in ["app", "migrate", *(f"worker-{queue}" for queue in QUEUES)]:
        environment = services[name]["environment"]
        assert APP_VARIABLES - {"OTEL_SERVICE_NAME"} <= set(environment), name
        assert "@pgbouncer:6432/" in environment["DATABASE_URL"], name
    for name in ["app", *(f"worker-{queue}" for queue in QUEUES)]:
        assert services[name]["environment"]["OTEL_SERVICE_NAME"].startswith("fashionistar-")


def test_three_sentinels_watch_the_master_with_a_quorum_of_two() -> None:
    conf = (DEPLOY / "redis" / "sentinel.conf").read_text()
    assert "sentinel monitor fashionistar redis-master 6379 2" in conf
    master = services["app"]["environment"]["REDIS_SENTINEL_MASTER"]
    assert master == "fashionistar"
    sentinels = services["app"]["environment"]["REDIS_SENTINELS"].split(",")
    assert sorted(s.split(":")[0] for s in sentinels) == ["sentinel-1", "sentinel-2", "sentinel-3"]


def test_prometheus_scrapes_the_app_and_the_workers_and_grafana_has_the_dashboard() -> None:
    prometheus = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    web, workers = prometheus["scrape_configs"]
    assert web["static_configs"][0]["targets"] == ["app:8000"]
    worker_services = sorted(name for name in services if name.startswith("worker-"))
    assert sorted(workers["static_configs"][0]["targets"]) == [
        f"{name}:{services[name]['environment']['TASK_WORKER_METRICS_PORT']}"
        for name in worker_services
    ]
    assert "8000:8000" in services["app"]["ports"]
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "fashionistar.yaml")
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{dashboards_path}:ro" in services["grafana"]["volumes"]


def test_healthcheck_asks_the_readiness_endpoint() -> None:
    assert "/readyz" in " ".join(services["app"]["healthcheck"]["test"])
