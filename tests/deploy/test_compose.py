"""The Compose file: valid against the Compose specification, and coherent with the app."""

from __future__ import annotations

import json
import re
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fashionistar.kernel.config import TRUE_WORDS
from fashionistar_dev.processes import (
    SHOP_PORTS,
    Service,
    free_ports,
    service_dir,
    shop_server_args,
    spawn_service,
    wait_ready,
)
from fashionistar_dev.stack.binaries import service_user
from fashionistar_dev.stack.redis_ha import find_redis_server
from tests.deploy.support import (
    COMPOSE,
    DEPLOY,
    PROMETHEUS,
    SENTINEL_CONF,
    check_jsonschema,
    interpolate,
    load_yaml,
    split_image,
)
from tests.processes import wait_for
from tests.production import runtime_stage

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
# The shop's two servers (one image): the service that runs each interface.
SERVERS = {"wsgi": "app", "asgi": "app-async"}
# nginx's official image renders these into /etc/nginx/conf.d/ at start.
NGINX_TEMPLATES = Path("/etc/nginx/templates")


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
        "app-async",
        "router",
        "otel-collector",
        "jaeger",
        "prometheus",
        "grafana",
    } <= set(services)


def test_app_runs_the_wsgi_server_app_async_the_asgi_one_and_one_worker_serves_each_queue() -> None:
    _, _, image_command = runtime_stage()
    assert "command" not in services["app"]  # the image's default: granian's WSGI server
    for interface, name in SERVERS.items():
        command = services[name].get("command", image_command)
        assert command == [
            "granian",
            *shop_server_args(interface=interface, host="0.0.0.0", port=SHOP_PORTS[interface]),
        ], name
        assert services[name]["image"] == services["app"]["image"]
    for queue in QUEUES:
        worker = services[f"worker-{queue}"]
        assert worker["command"][:4] == ["python", "manage.py", "run_worker", queue]
        assert worker["image"] == services["app"]["image"]


def test_app_and_workers_get_every_setting_and_reach_postgres_through_pgbouncer() -> None:
    for name in [*SERVERS.values(), "migrate", *(f"worker-{queue}" for queue in QUEUES)]:
        environment = services[name]["environment"]
        assert APP_VARIABLES - {"OTEL_SERVICE_NAME"} <= set(environment), name
        assert "@pgbouncer:6432/" in environment["DATABASE_URL"], name
    names = [
        services[name]["environment"]["OTEL_SERVICE_NAME"]
        for name in [*SERVERS.values(), *(f"worker-{queue}" for queue in QUEUES)]
    ]
    assert all(name.startswith("fashionistar-") for name in names), names
    assert len(set(names)) == len(names)  # each service's traces under its own name


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
    for name in [*SERVERS.values(), *(f"worker-{queue}" for queue in QUEUES)]:
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


def test_prometheus_scrapes_both_servers_and_the_workers_and_grafana_has_the_dashboard() -> None:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS)["scrape_configs"]}
    # Each server's /metrics counts its own worker processes (its own multiprocess folder).
    assert jobs["fashionistar-web"]["static_configs"][0]["targets"] == [
        f"{name}:{SHOP_PORTS[interface]}" for interface, name in SERVERS.items()
    ]
    worker_services = sorted(name for name in services if name.startswith("worker-"))
    assert sorted(jobs["fashionistar-workers"]["static_configs"][0]["targets"]) == [
        f"{name}:{services[name]['environment']['TASK_WORKER_METRICS_PORT']}"
        for name in worker_services
    ]
    provider = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "fashionistar.yaml")
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{dashboards_path}:ro" in services["grafana"]["volumes"]


def test_each_server_s_healthcheck_asks_its_own_readiness_endpoint() -> None:
    for interface, name in SERVERS.items():
        test = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{SHOP_PORTS[interface]}/readyz" in test, name
        assert services[name]["tmpfs"] == ["/tmp/prometheus"], name  # its own metrics folder
        assert services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"] == "/tmp/prometheus"


def test_the_queue_figures_both_servers_report_are_not_added_up_on_the_dashboard() -> None:
    """Every server reads the same queues from Redis when scraped: a sum would double them."""
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "fashionistar.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queue_figures = [expr for expr in exprs if re.search(r"fashionistar_task_(?!duration)", expr)]
    assert queue_figures
    for expr in queue_figures:
        assert not re.search(r"\b(sum|count)\b", expr), expr


def test_only_the_router_is_published_and_it_reaches_both_servers() -> None:
    published = {
        name for name, service in services.items() if "8000:8000" in service.get("ports", [])
    }
    assert published == {"router"}
    for name in SERVERS.values():
        assert "ports" not in services[name], name  # the router is the way in
    router = services["router"]
    repository, tag = split_image(router["image"])
    assert repository == "nginx"
    assert re.fullmatch(r"\d+\.\d+\.\d+-alpine", tag), tag  # pinned, like every image here
    (volume,) = router["volumes"]
    source, target, mode = volume.split(":")
    template = (COMPOSE.parent / source).resolve()
    assert template == DEPLOY / "router" / "shop.conf.template"
    assert Path(target).parent == NGINX_TEMPLATES
    assert Path(target).name.endswith(".template")
    assert mode == "ro"
    environment = router["environment"]
    # nginx's image fills only the variables set: every one the template names must be set.
    assert set(re.findall(r"\$\{(\w+)\}", template.read_text())) == set(environment)
    assert environment["SHOP_WSGI_ADDRESS"] == f"app:{SHOP_PORTS['wsgi']}"
    assert environment["SHOP_ASGI_ADDRESS"] == f"app-async:{SHOP_PORTS['asgi']}"
    assert router["ports"] == [f"8000:{environment['ROUTER_PORT']}"]
    for name in SERVERS.values():
        assert router["depends_on"][name]["condition"] == "service_healthy"


def test_the_servers_trust_x_forwarded_for_which_the_router_replaces() -> None:
    """Behind the router, REMOTE_ADDR is the router's: throttling and audit rows need the client's.

    The router must replace the header, not append to it: the app takes its first entry, which
    a client could otherwise write.
    """
    for name in SERVERS.values():
        environment = services[name]["environment"]
        assert environment["DJANGO_TRUST_X_FORWARDED_FOR"].lower() in TRUE_WORDS, name
    template = (DEPLOY / "router" / "shop.conf.template").read_text()
    assert re.search(r"proxy_set_header\s+X-Forwarded-For\s+\$remote_addr;", template)
    assert "proxy_add_x_forwarded_for" not in template


def test_the_servers_accept_the_host_prometheus_scrapes_them_by() -> None:
    jobs = {job["job_name"]: job for job in load_yaml(PROMETHEUS)["scrape_configs"]}
    for target in jobs["fashionistar-web"]["static_configs"][0]["targets"]:
        host = target.partition(":")[0]
        for name in SERVERS.values():
            allowed = interpolate(services[name]["environment"]["DJANGO_ALLOWED_HOSTS"], {})
            assert host in allowed.split(","), (name, target)
