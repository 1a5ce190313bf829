"""Every worker container starts its workers the same way, the way the worker module argues for.

Compose's services (one queue each) and the Kubernetes Deployment (every queue) run one command
with the same kind and count of workers, the same log level and sampler; the Dockerfile, the
deploy README and ``fashionistar.tasks.worker``'s docstring name that command.
"""

from __future__ import annotations

from typing import Any

from fashionistar.tasks import worker
from fashionistar.tasks.management.commands.run_worker import Command
from tests.deploy.support import COMPOSE, DEPLOY, K8S, load_yaml

RUN_WORKER = ["python", "manage.py", "run_worker"]
QUEUES = ("emails", "critical", "analytics")
compose_services = load_yaml(COMPOSE)["services"]
(k8s_worker,) = load_yaml(K8S / "worker-deployment.yaml")["spec"]["template"]["spec"]["containers"]


def k8s_environment() -> dict[str, Any]:
    return {item["name"]: item["value"] for item in k8s_worker["env"]}


def options() -> list[str]:
    """The options of the Kubernetes workers' command (after ``run_worker``, no queue)."""
    command = k8s_worker["command"]
    assert command[: len(RUN_WORKER)] == RUN_WORKER
    return command[len(RUN_WORKER) :]


def test_compose_and_kubernetes_start_workers_with_the_same_kind_and_count() -> None:
    assert sorted(name for name in compose_services if name.startswith("worker-")) == sorted(
        f"worker-{queue}" for queue in QUEUES
    )
    for queue in QUEUES:
        assert compose_services[f"worker-{queue}"]["command"] == [*RUN_WORKER, queue, *options()]


def test_the_shipped_command_is_simple_workers_under_one_process_and_run_worker_takes_it() -> None:
    parsed = Command().create_parser("manage.py", "run_worker").parse_args(options())
    assert (parsed.queues, parsed.kind, parsed.burst) == ([], "simple", False)
    assert parsed.processes > 1


def test_the_dockerfile_the_readme_and_the_worker_module_name_the_shipped_command() -> None:
    shipped = " ".join([*RUN_WORKER[1:], "[queue]", *options()])  # manage.py run_worker ...
    assert worker.__doc__ is not None
    assert f"``{shipped[len('manage.py ') :]}``" in worker.__doc__
    assert f"python {shipped}" in (DEPLOY / "Dockerfile").read_text()
    assert f"`python {shipped}`" in (DEPLOY / "README.md").read_text()


def test_every_worker_container_logs_warnings_samples_no_polling_and_shares_its_metrics() -> None:
    """The workers under ``run_worker --processes`` write their samples to files that the
    process serving port 9100 adds up: without the directory it refuses to start."""
    environments = [
        *(compose_services[f"worker-{queue}"]["environment"] for queue in QUEUES),
        k8s_environment(),
    ]
    for environment in environments:
        assert environment["TASK_WORKER_LOG_LEVEL"] == "WARNING"
        assert environment["OTEL_TRACES_SAMPLER"] == "parentbased_always_off"
        assert environment["TASK_WORKER_METRICS_PORT"] == "9100"
        assert environment["PROMETHEUS_MULTIPROC_DIR"]
