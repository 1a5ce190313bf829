"""The deploy files' server commands stop as a rolling update needs: requests in flight finish."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from fashionistar_dev.processes import Interface, free_port, shop_server_args, shop_server_command
from tests.processes import ROOT, wait_for, wait_until_up

SLOW_APPLICATIONS: dict[Interface, str] = {
    "asgi": "tests.deploy.slow_app:application",
    "wsgi": "tests.deploy.slow_app:wsgi_application",
}


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_sigterm_lets_a_request_in_flight_finish_then_the_server_exits(
    tmp_path: Path, interface: Interface
) -> None:
    port, started = free_port(), tmp_path / "started"
    args = shop_server_args(
        interface=interface, host="127.0.0.1", port=port, application=SLOW_APPLICATIONS[interface]
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "granian", *args],
        cwd=ROOT,
        env={**os.environ, "SLOW_APP_STARTED": str(started)},
    )
    url = f"http://127.0.0.1:{port}"
    answers: list[httpx.Response] = []
    try:
        wait_for(lambda: httpx.get(f"{url}/ready"), 60, errors=(httpx.TransportError,))
        request = threading.Thread(target=lambda: answers.append(httpx.get(url, timeout=10)))
        request.start()
        wait_for(started.exists, 10)
        server.send_signal(signal.SIGTERM)
        request.join()
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    (answer,) = answers
    assert (answer.status_code, answer.text) == (200, "finished")


def test_the_async_server_starts_the_shop_without_a_lifespan_warning(tmp_path: Path) -> None:
    """Django does not speak ASGI's lifespan protocol: the command does not offer it."""
    port, output = free_port(), tmp_path / "server.log"
    with output.open("w") as written:
        server = subprocess.Popen(
            shop_server_command(interface="asgi", port=port),
            cwd=ROOT,
            stdout=written,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(f"http://127.0.0.1:{port}/livez")
        finally:
            server.terminate()
            server.wait(timeout=30)
    started = output.read_text()
    assert "Started worker-1" in started
    assert "Lifespan" not in started
