"""The Compose file: valid against the Compose specification, and coherent with the app."""

from __future__ import annotations

import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fashionistar_dev.processes import Service, free_ports, service_dir, spawn_service, wait_ready
from fashionistar_dev.stack.binaries import service_user
from fashionistar_dev.stack.redis_ha import find_redis_server
from tests.deploy.support import (
    COMPOSE,
    DEPLOY,
    PROMETHEUS,
    SENTINEL_CONF,
    check_jsonschema,
    load_yaml,
)
from tests.processes import wait_for

QUEUES = ("emails", "critical", "analytics")
# The variables fashionistar.project.settings_production reads (DATABASE_URL: through PgBouncer).
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
        "pgbouncer-exporter",
        "redis-master",
        "redis-replica-1",
        "redis-replica-2",
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
    assert "command" not in services["app"]  # the image's default: granian
    for queue in QUEUES:
        worker = services[f"worker-{queue}"]
        assert worker["command"][:4] == ["python", "manage.py", "run_worker", queue]
        assert worker["image"] == services["app"]["image"]


def test_app_and_workers_get_every_setting_and_reach_postgres_through_pgbouncer() -> None:
    for name in ["app", "migrate", *(f"worker-{queue}" for queue in QUEUES)]:
        environment = services[name]["environment"]
        assert APP_VARIABLES - {"OTEL_SERVICE_NAME"} <= set(environment), name
        assert "@pgbouncer:6432/" in environment["DATABASE_URL"], name
    for name in ["app", *(f"worker-{queue}" for queue in QUEUES)]:
        assert services[name]["environment"]["OTEL_SERVICE_NAME"].startswith("fashionistar-")


def sentinel_monitor() -> tuple[str, str, int, int]:
    """The ``sentinel monitor`` line of sentinel.conf: master name, host, port, quorum."""
    (line,) = [
        line.split()
        for line in SENTINEL_CONF.read_text().splitlines()
        if line.startswith("sentinel monitor ")
    ]
    name, host, port, quorum = line[2:]
    return name, host, int(port), int(quorum)


def redis_data_nodes() -> dict[str, list[str]]:
    """The Redis servers that hold data (not the Sentinels): service name to command."""
    return {
        name: service["command"]
        for name, service in services.items()
        if service["image"].startswith("redis:") and service["command"][0] == "redis-server"
    }


def option(command: list[str], name: str) -> list[str]:
    """The values after ``--name`` on a redis-server command line (empty when it is absent)."""
    if f"--{name}" not in command:
        return []
    start = command.index(f"--{name}") + 1
    end = next((i for i in range(start, len(command)) if command[i].startswith("--")), len(command))
    return command[start:end]


def test_three_sentinels_watch_the_master_with_a_quorum_of_two() -> None:
    name, host, port, quorum = sentinel_monitor()
    assert (host, port) == ("redis-master", 6379)
    assert "redis-master" in redis_data_nodes()
    sentinel_services = sorted(
        service_name
        for service_name, service in services.items()
        if "./redis/sentinel.conf:/etc/redis/sentinel.conf:ro" in service.get("volumes", [])
    )
    assert sentinel_services == ["sentinel-1", "sentinel-2", "sentinel-3"]
    assert quorum == 2
    assert quorum > len(sentinel_services) / 2  # a majority: two sides of a split cannot both act
    environment = services["app"]["environment"]
    assert environment["REDIS_SENTINEL_MASTER"] == name
    sentinels = environment["REDIS_SENTINELS"].split(",")
    assert sorted(s.split(":")[0] for s in sentinels) == sentinel_services


def test_at_least_two_replicas_follow_the_master() -> None:
    _, host, port, _ = sentinel_monitor()
    replicas = [
        name
        for name, command in redis_data_nodes().items()
        if option(command, "replicaof") == [host, str(port)]
    ]
    assert len(replicas) >= 2, replicas
    assert set(redis_data_nodes()) == {host, *replicas}
    for name in replicas:
        assert services[name]["depends_on"]["redis-master"]["condition"] == "service_healthy"


def test_every_redis_data_node_writes_only_with_a_replica_in_sync() -> None:
    """The master and the replicas alike: Sentinel may promote any replica."""
    for name, command in redis_data_nodes().items():
        assert [int(n) for n in option(command, "min-replicas-to-write")] >= [1], name
        assert [int(n) for n in option(command, "min-replicas-max-lag")] > [0], name
        assert option(command, "appendonly") == ["yes"], name
        assert option(command, "replica-announce-ip") == [name], name
        assert any(volume.endswith(":/data") for volume in services[name]["volumes"]), name
    volumes = [services[name]["volumes"][0] for name in redis_data_nodes()]
    assert len(set(volumes)) == len(volumes)  # each node its own data


def test_the_app_starts_once_a_replica_follows_the_master() -> None:
    for name in ["app", *(f"worker-{queue}" for queue in QUEUES)]:
        depends_on = services[name]["depends_on"]
        assert depends_on["redis-replica-1"]["condition"] == "service_healthy", name
    healthcheck = " ".join(services["redis-replica-1"]["healthcheck"]["test"])
    assert "master_link_status:up" in healthcheck


@pytest.fixture
def redis_dir() -> Iterator[Path]:
    """A folder the service user can enter (pytest's tmp_path is root's alone)."""
    with tempfile.TemporaryDirectory(prefix="fashionistar-compose-redis-") as folder:
        yield Path(folder)


def start_node(root: Path, name: str, command: list[str], port: int) -> Service:
    """One data node on a loopback port, with the Compose file's options."""
    user = service_user()
    args = [
        find_redis_server(),
        *command[1:],
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(service_dir(root, name, user))),
        # The first sync starts at once, not after Redis's 5 s wait for more replicas.
        *("--repl-diskless-sync-delay", "0"),
    ]
    node = spawn_service(root=root, user=user, name=name, args=args, stop_signal=signal.SIGTERM)
    wait_ready(node, redis.Redis(port=port).ping)
    return node


def test_the_compose_redis_commands_refuse_writes_until_a_replica_follows(redis_dir) -> None:
    """The master and replica command lines of the Compose file, run by a real redis-server."""
    master_port, replica_port = free_ports(2)
    replica_command = list(services["redis-replica-1"]["command"])
    at = replica_command.index("--replicaof")
    replica_command[at + 1 : at + 3] = ["127.0.0.1", str(master_port)]
    nodes = [start_node(redis_dir, "master", services["redis-master"]["command"], master_port)]
    client = redis.Redis(port=master_port)
    try:
        with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
            client.set("order:1:status", "paid")
        nodes.append(start_node(redis_dir, "replica", replica_command, replica_port))
        wait_for(lambda: client.set("order:1:status", "paid"), 30, errors=(redis.ResponseError,))
        assert client.info("replication")["connected_slaves"] == 1
    finally:
        client.close()
        for node in nodes:
            node.stop()


def test_prometheus_scrapes_the_app_and_the_workers_and_grafana_has_the_dashboard() -> None:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS)["scrape_configs"]}
    assert jobs["fashionistar-web"]["static_configs"][0]["targets"] == ["app:8000"]
    worker_services = sorted(name for name in services if name.startswith("worker-"))
    assert sorted(jobs["fashionistar-workers"]["static_configs"][0]["targets"]) == [
        f"{name}:{services[name]['environment']['TASK_WORKER_METRICS_PORT']}"
        for name in worker_services
    ]
    assert "8000:8000" in services["app"]["ports"]
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "fashionistar.yaml")
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{dashboards_path}:ro" in services["grafana"]["volumes"]


def test_healthcheck_asks_the_readiness_endpoint() -> None:
    assert "/readyz" in " ".join(services["app"]["healthcheck"]["test"])
