"""The web pod runs the shop's two servers, and the Service and the Ingress route to each.

Container ``web`` runs the image's default command, the WSGI server; ``web-async`` runs the ASGI
server. Each is probed on its own port, both count their metrics in one directory, and the
Ingress sends the async API's path to the ASGI server and everything else to the WSGI server.
"""

from __future__ import annotations

from typing import Any

from fashionistar_dev.processes import ASYNC_API_PREFIX, SHOP_PORTS, Interface, shop_server_args
from tests.deploy.support import K8S, load_yaml
from tests.production import runtime_stage

deployment = load_yaml(K8S / "web-deployment.yaml")
pod = deployment["spec"]["template"]["spec"]
containers = {container["name"]: container for container in pod["containers"]}
service = load_yaml(K8S / "web-service.yaml")
ingress = load_yaml(K8S / "ingress.yaml")
metrics_ingress = load_yaml(K8S / "ingress-metrics.yaml")
PROBES = {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/readyz"}


def server_command(interface: Interface) -> list[str]:
    """The command of a shop server in a container, on its port of the deploy files."""
    return [
        "granian",
        *shop_server_args(interface=interface, host="0.0.0.0", port=SHOP_PORTS[interface]),
    ]


def command(container: dict[str, Any]) -> list[str]:
    """What a container runs: its ``command``, or else the image's ``CMD``."""
    assert "args" not in container, container["name"]
    return container.get("command") or runtime_stage()[2]


def interface_of(container: dict[str, Any]) -> Interface:
    """Which server a container runs."""
    (interface,) = [i for i in SHOP_PORTS if command(container) == server_command(i)]
    return interface


def environment(container: dict[str, Any]) -> dict[str, Any]:
    return {variable["name"]: variable.get("value") for variable in container["env"]}


def test_the_pod_runs_the_wsgi_server_by_the_images_default_command_and_the_asgi_server() -> None:
    assert list(containers) == ["web", "web-async"]
    assert "command" not in containers["web"]
    assert runtime_stage()[2] == server_command("wsgi")
    assert containers["web-async"]["command"] == server_command("asgi")
    assert {name: interface_of(c) for name, c in containers.items()} == {
        "web": "wsgi",
        "web-async": "asgi",
    }
    assert containers["web"]["ports"] == [{"name": "http", "containerPort": SHOP_PORTS["wsgi"]}]
    assert containers["web-async"]["ports"] == [
        {"name": "async", "containerPort": SHOP_PORTS["asgi"]}
    ]


def test_each_container_is_probed_on_its_own_port() -> None:
    for container in containers.values():
        (port,) = container["ports"]
        assert port["containerPort"] == SHOP_PORTS[interface_of(container)]
        for probe, path in PROBES.items():
            assert container[probe]["httpGet"] == {"path": path, "port": port["name"]}, probe


def test_the_two_containers_differ_only_in_their_server() -> None:
    """Same image, settings, resources, security, stop and mounts: only the server differs."""

    def shared(container: dict[str, Any]) -> dict[str, Any]:
        rest = {k: v for k, v in container.items() if k not in ("name", "command", "ports")}
        for probe in PROBES:
            rest[probe] = {**rest[probe], "httpGet": {**rest[probe]["httpGet"], "port": None}}
        rest["env"] = [v for v in rest["env"] if v["name"] != "OTEL_SERVICE_NAME"]
        return rest

    assert shared(containers["web"]) == shared(containers["web-async"])
    names = {name: environment(c)["OTEL_SERVICE_NAME"] for name, c in containers.items()}
    assert names == {"web": "fashionistar-web", "web-async": "fashionistar-web-async"}


def test_both_servers_count_their_metrics_in_one_directory_in_one_process_namespace() -> None:
    """prometheus_client names a process's files after its PID; PIDs are unique per namespace.

    The container Prometheus scrapes (``prometheus.io/port``) adds up every file in the
    directory, so it counts the other server's processes as well, provided no two processes
    share a PID: the pod has one PID namespace, not one per container.
    """
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    shared = set()
    for container in containers.values():
        directory = environment(container)["PROMETHEUS_MULTIPROC_DIR"]
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
        shared.add(mount["name"])
    (name,) = shared
    assert volumes[name] == {"name": name, "emptyDir": {}}  # empty at every pod start
    assert len(containers) > 1
    assert pod["shareProcessNamespace"] is True
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == containers["web"]["ports"][0]["containerPort"]


def test_every_container_asks_for_cpu_so_the_hpa_can_compute_the_pods_utilization() -> None:
    hpa = load_yaml(K8S / "web-hpa.yaml")["spec"]
    assert hpa["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    for container in containers.values():
        assert container["resources"]["requests"]["cpu"], container["name"]


def test_a_stopping_pod_gives_each_server_its_pause_and_its_workers_time() -> None:
    for container in containers.values():
        sleep, seconds = container["lifecycle"]["preStop"]["exec"]["command"]
        args = command(container)
        kill_timeout = int(args[args.index("--workers-kill-timeout") + 1])
        assert sleep == "sleep"
        assert int(seconds) + kill_timeout < pod["terminationGracePeriodSeconds"]


def test_the_ingress_sends_the_async_api_to_the_asgi_server_and_the_rest_to_the_wsgi_one() -> None:
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    target_ports = {port["name"]: port["targetPort"] for port in service["spec"]["ports"]}
    by_port_name = {c["ports"][0]["name"]: c for c in containers.values()}
    (rule,) = ingress["spec"]["rules"]
    routes = {}
    for path in rule["http"]["paths"]:
        assert path["pathType"] == "Prefix"
        backend = path["backend"]["service"]
        assert backend["name"] == service["metadata"]["name"]
        container = by_port_name[target_ports[backend["port"]["name"]]]
        routes[path["path"]] = interface_of(container)
    # A Prefix path matches whole segments: /api/async takes /api/async/... (the router's
    # ASYNC_API_PREFIX), not /api/asyncx.
    assert routes == {ASYNC_API_PREFIX.rstrip("/"): "asgi", "/": "wsgi"}


def test_the_ingress_host_is_an_allowed_host_and_its_tls_covers_it() -> None:
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [rule["host"]]
    assert ingress["spec"]["ingressClassName"] == "nginx"
    configmap = load_yaml(K8S / "configmap.yaml")["data"]
    assert rule["host"] in configmap["DJANGO_ALLOWED_HOSTS"].split(",")
    assert configmap["DJANGO_PROXY_SSL_HEADER"] == "X-Forwarded-Proto: https"
    for container in containers.values():
        assert rule["host"] in environment(container)["DJANGO_ALLOWED_HOSTS"].split(",")


def test_the_ingress_answers_metrics_to_no_client() -> None:
    # Prometheus scrapes the pods directly; through the shop's address, /metrics is refused.
    (rule,) = metrics_ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/metrics", "Exact")
    assert path["backend"]["service"]["name"] == service["metadata"]["name"]
    assert rule["host"] == ingress["spec"]["rules"][0]["host"]
    assert metrics_ingress["spec"]["tls"] == ingress["spec"]["tls"]
    assert metrics_ingress["spec"]["ingressClassName"] == ingress["spec"]["ingressClassName"]
    allowed = metrics_ingress["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/whitelist-source-range"
    ]
    assert allowed == "127.0.0.1/32"  # the loopback only: no client of the ingress is there
    scraped = deployment["spec"]["template"]["metadata"]["annotations"]
    assert (scraped["prometheus.io/scrape"], scraped["prometheus.io/path"]) == ("true", "/metrics")
