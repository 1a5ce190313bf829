"""The service stack: providers, start and stop, and no server left behind."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from fashionistar_dev.processes import StartError
from fashionistar_dev.stack import (
    StackError,
    binaries,
    choose_provider,
    native,
    running_stack,
    start_stack,
)
from fashionistar_dev.stack.native import NativeStack
from tests.processes import child_pids, wait_for, wait_gone

NATIVE = {"FASHIONISTAR_STACK": "native"}


def native_environ() -> dict[str, str]:
    """This process's environment, asking for the native stack in its default profile."""
    env = {**os.environ, **NATIVE}
    env.pop("FASHIONISTAR_REDIS_HA", None)  # the HA profile has its own tests (test_redis_ha.py)
    return env


def command_of(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]
    except FileNotFoundError:
        return []


def test_native_stack_serves_postgres_pgbouncer_redis_and_stops_clean() -> None:
    stack = start_stack(environ=NATIVE)
    assert isinstance(stack, NativeStack)
    root, pids = stack.root, stack.pids
    try:
        assert len(pids) == 4
        with psycopg.connect(stack.urls.database_url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("fashionistar",)
        with psycopg.connect(stack.urls.pgbouncer_admin_url, autocommit=True) as admin:
            modes = {row[0]: row[-1] for row in admin.execute("SHOW POOLS").fetchall()}
        assert modes["fashionistar"] == "transaction"
        assert redis.Redis.from_url(stack.urls.redis_url).ping()
        assert stack.urls.payment_gateway_url is not None
        health = httpx.get(f"{stack.urls.payment_gateway_url}/v1/health", timeout=5)
        assert health.json() == {"status": "ok"}
    finally:
        stack.stop()
    assert wait_gone(pids) == []
    assert not root.exists()


def test_persistent_stack_keeps_its_data() -> None:
    # Under /tmp, not pytest's tmp_path: the servers run as an unprivileged user, which
    # cannot enter root's private pytest folders.
    tmp_path = Path(tempfile.mkdtemp(prefix="fashionistar-test-"))
    with (
        running_stack(data_dir=tmp_path, environ=NATIVE) as stack,
        psycopg.connect(stack.urls.database_url, autocommit=True) as conn,
    ):
        conn.execute("CREATE TABLE kept (value text)")
        conn.execute("INSERT INTO kept VALUES ('still here')")
    with (
        running_stack(data_dir=tmp_path, environ=NATIVE) as stack,
        psycopg.connect(stack.urls.database_url) as conn,
    ):
        assert conn.execute("SELECT value FROM kept").fetchall() == [("still here",)]
    assert (tmp_path / "postgres" / "PG_VERSION").exists()
    shutil.rmtree(tmp_path)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_ctrl_c_sigterm_or_a_closed_terminal_stop_every_server(sig: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fashionistar_dev.stack"],
        env=native_environ(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(5)]
    assert any(line.startswith("export DATABASE_URL=") for line in lines), lines
    servers = child_pids(process.pid)
    assert len(servers) == 4
    process.send_signal(sig)
    assert process.wait(timeout=30) == 0
    assert wait_gone(servers) == []


def test_a_stopped_run_stops_its_command_too() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fashionistar_dev.stack", "--", "sleep", "600"],
        env=native_environ(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().startswith("stack (native) ready in")
    wait_for(lambda: any(command_of(p)[:1] == ["sleep"] for p in child_pids(process.pid)), 10)
    everything = child_pids(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 130
    assert wait_gone(everything) == []


def test_a_killed_parent_leaves_no_server() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fashionistar_dev.stack"],
        env=native_environ(),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    while not process.stdout.readline().startswith("export REDIS_URL="):
        pass
    servers = child_pids(process.pid)
    assert len(servers) == 4
    process.kill()
    process.wait()
    assert wait_gone(servers) == []


def test_command_runs_with_the_stack_environment() -> None:
    code = "import os, sys; sys.exit(42 if os.environ['DATABASE_URL'][:11] == 'postgres://' else 1)"
    result = subprocess.run(
        [sys.executable, "-m", "fashionistar_dev.stack", "--", sys.executable, "-c", code],
        env=native_environ(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 42, result.stderr
    assert "stack (native) ready in" in result.stdout


def test_env_provider_uses_the_given_services(stack) -> None:
    environ = stack.urls.environ()
    assert choose_provider(environ) == "env"
    found = start_stack(environ=environ)
    assert found.provider == "env"
    assert found.urls == stack.urls
    found.stop()
    with psycopg.connect(found.urls.database_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_without_urls_the_provider_is_native_even_where_docker_answers() -> None:
    # The containers provider has never run on the machines this project is tested on:
    # it is used only when asked for by name.
    assert choose_provider({}) == "native"
    assert choose_provider({"FASHIONISTAR_STACK": "containers"}) == "containers"


@pytest.mark.parametrize("ask", [{"redis_ha": True}, {"data_dir": Path("/tmp/kept")}])
def test_the_containers_provider_refuses_what_it_cannot_give(ask: dict) -> None:
    with pytest.raises(StackError, match="use native"):
        start_stack(environ={"FASHIONISTAR_STACK": "containers"}, **ask)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"FASHIONISTAR_STACK": "kubernetes"}, "FASHIONISTAR_STACK='kubernetes' is not one of"),
        ({"FASHIONISTAR_STACK": "env", "REDIS_URL": "redis://x"}, "needs DATABASE_URL to be set"),
    ],
)
def test_wrong_provider_settings_say_what_is_wrong(environ: dict[str, str], message: str) -> None:
    with pytest.raises(StackError, match=message):
        start_stack(environ=environ)


def test_missing_servers_name_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(binaries, "find_binaries", lambda: None)
    monkeypatch.setattr(binaries.os, "geteuid", lambda: 1000)
    with pytest.raises(StackError, match="postgresql, pgbouncer, redis-server"):
        binaries.ensure_binaries()


@pytest.mark.parametrize(
    ("printed", "refused"),
    [
        (f"postgres (PostgreSQL) {binaries.MIN_POSTGRES_MAJOR - 1}.9", True),
        (f"postgres (PostgreSQL) {binaries.MIN_POSTGRES_MAJOR}.0 (Debian)", False),
    ],
)
def test_a_postgresql_older_than_the_minimum_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, printed: str, refused: bool
) -> None:
    postgres = tmp_path / "postgres"
    postgres.write_text(f"#!/bin/sh\necho '{printed}'\n")
    postgres.chmod(0o755)
    found = binaries.Binaries(
        initdb="initdb", postgres=str(postgres), pgbouncer="", redis_server="", nginx=""
    )
    monkeypatch.setattr(binaries, "find_binaries", lambda: found)
    if refused:
        with pytest.raises(StackError, match=f"PostgreSQL {binaries.MIN_POSTGRES_MAJOR} or newer"):
            binaries.ensure_binaries()
    else:
        assert binaries.ensure_binaries() == found


@pytest.mark.skipif(os.geteuid() != 0, reason="apt-get installs only as root")
def test_parallel_workers_install_packages_one_at_a_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with binaries.APT_LOCK.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = threading.Thread(target=binaries.apt_install, args=[binaries.DEBIAN_PACKAGES])
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive()  # it waits for the worker that installs
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    assert "installing" not in capsys.readouterr().out  # installed meanwhile: no second apt-get


def test_a_server_that_dies_at_start_reports_its_log(monkeypatch: pytest.MonkeyPatch) -> None:
    real = binaries.ensure_binaries()
    broken = binaries.Binaries(
        initdb=real.initdb,
        postgres=real.postgres,
        pgbouncer="/bin/false",
        redis_server=real.redis_server,
        nginx=real.nginx,
    )
    monkeypatch.setattr(native, "ensure_binaries", lambda: broken)
    before = set(child_pids(os.getpid()))
    with pytest.raises(StartError, match="pgbouncer exited at start"):
        start_stack(environ=NATIVE)
    assert wait_gone(sorted(set(child_pids(os.getpid())) - before)) == []
