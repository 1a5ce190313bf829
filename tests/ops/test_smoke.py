"""The smoke test against the image's server command and a real worker, on the run's stack."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import global_settings

from fashionistar.inventory.models import Stock
from fashionistar.ops.smoke import main, run_smoke
from fashionistar.orders.models import Order, OrderStatus
from tests.factories import make_product, make_user, variant_of
from tests.processes import ROOT

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-passphrase"
CHECKS = ["health", "catalog", "login", "order", "task"]


@pytest.fixture(autouse=True)
def server_hashers(settings):
    """Users the server checks: its password hasher (the run's own fast one is not in it)."""
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS


@pytest.fixture
def staff():
    user = make_user("smoke", password=PASSWORD)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


def statuses(outcomes) -> dict[str, str]:
    return {outcome.name: outcome.status for outcome in outcomes}


def test_every_check_passes_from_the_command_line(shop_server, critical_worker, staff) -> None:
    variant = variant_of(make_product(stock=4))
    run = subprocess.run(
        [sys.executable, "-m", "fashionistar.ops.smoke", "--base-url", shop_server],
        cwd=ROOT,
        env={**os.environ, "SMOKE_USERNAME": "smoke", "SMOKE_PASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert [line.split()[1] for line in lines[1:-1]] == CHECKS
    assert all(line.split()[0] == "PASS" for line in lines[1:-1])
    assert lines[-1].startswith("PASSED: 5 checks in ")
    # It ordered one unit and cancelled the order: the stock is as it was.
    assert Order.objects.get().status == OrderStatus.CANCELLED
    assert Stock.objects.get(variant=variant).quantity == 4


def test_wrong_password_fails_login_and_skips_what_needs_it(shop_server, staff) -> None:
    make_product(stock=1)
    outcomes = run_smoke(base_url=shop_server, username="smoke", password="wrong-password")
    assert statuses(outcomes) == {
        "health": "PASS",
        "catalog": "PASS",
        "login": "FAIL",
        "order": "SKIP",
        "task": "SKIP",
    }
    login = outcomes[2]
    assert "answered 400, not 200" in login.detail or "answered 401, not 200" in login.detail


def test_without_a_worker_the_task_check_fails_at_the_deadline(
    shop_server, staff, clean_redis
) -> None:
    outcomes = run_smoke(base_url=shop_server, username="smoke", password=PASSWORD, timeout_s=3)
    assert statuses(outcomes)["catalog"] == "FAIL"  # an empty catalog has nothing to order
    assert "no variant has a unit left" in outcomes[1].detail
    assert statuses(outcomes)["order"] == "SKIP"
    task = outcomes[4]
    assert task.status == "FAIL"
    assert "still READY after" in task.detail
    assert "is a worker serving the critical queue?" in task.detail


def test_a_user_who_is_not_staff_cannot_use_the_task_round_trip(shop_server) -> None:
    make_user("customer", password=PASSWORD)
    outcomes = run_smoke(base_url=shop_server, username="customer", password=PASSWORD)
    task = outcomes[4]
    assert task.status == "FAIL"
    assert "POST /api/sync/ops/echo-task answered 403" in task.detail


def test_an_instance_that_does_not_answer_fails_fast() -> None:
    from fashionistar_dev.processes import free_port

    outcomes = run_smoke(
        base_url=f"http://127.0.0.1:{free_port()}", username="smoke", password=PASSWORD
    )
    assert outcomes[0].status == "FAIL"
    assert "GET /healthz: no answer" in outcomes[0].detail


def test_the_command_needs_a_password_from_the_environment(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SMOKE_PASSWORD", raising=False)
    assert main(["--base-url", "http://127.0.0.1:1", "--username", "smoke"]) == 2
    assert "set SMOKE_PASSWORD" in capsys.readouterr().err


@pytest.mark.parametrize("header", ["X-Forwarded-Proto", ": https", "Host:"])
def test_a_malformed_header_is_a_usage_error(monkeypatch, capsys, header) -> None:
    monkeypatch.setenv("SMOKE_PASSWORD", PASSWORD)
    with pytest.raises(SystemExit) as stopped:
        main(["--base-url", "http://127.0.0.1:1", "--username", "smoke", "--header", header])
    assert stopped.value.code == 2
    assert "a header is 'Name: value'" in capsys.readouterr().err


def test_a_server_that_is_not_the_shop_fails_clearly(tmp_path) -> None:
    """A real HTTP server (the standard library's) serving files where the shop's paths are."""
    (tmp_path / "healthz").write_text("<html>a proxy's error page</html>")
    catalog = tmp_path / "api" / "sync" / "catalog"
    catalog.mkdir(parents=True)
    (catalog / "products").write_text('{"count": 1}')
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        outcomes = run_smoke(base_url=base_url, username="smoke", password=PASSWORD)
    finally:
        server.shutdown()
        server.server_close()
    assert "GET /healthz answered no JSON" in outcomes[0].detail
    assert outcomes[1].status == "FAIL"
    assert "without the expected fields (KeyError('results'))" in outcomes[1].detail
