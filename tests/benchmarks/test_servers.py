"""The server table: the shipped candidates run the deploy files' commands, uvicorn its own."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import servers
import uvicorn

from fashionistar_dev.processes import SHOP_APPLICATIONS, Interface, free_port, shop_server_args
from tests.processes import wait_for
from tests.production import runtime_stage

COLUMNS = ("bare ping", "livez", "bare list", "DRF list", "Ninja list", "bare wait")


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_the_shipped_candidates_run_the_deploy_files_commands(interface: Interface) -> None:
    (shipped,) = [c for c in servers.CANDIDATES if c.name == servers.SHIPPED[interface]]
    argv = shipped.argv(SHOP_APPLICATIONS[interface], 8000)
    assert argv[1:3] == ["-m", "granian"]
    options = argv[argv.index("--interface") :]
    assert options == shop_server_args(interface=interface, host="127.0.0.1", port=8000)
    if interface == "wsgi":
        _, _, image = runtime_stage()
        expected = image[image.index("--interface") :]
        expected[expected.index("--host") + 1] = "127.0.0.1"
        assert options == expected


def test_the_table_sets_each_shipped_server_against_the_fastest_other_one() -> None:
    def cell(rate: float) -> dict[str, Any]:
        return {
            "rates": [rate] * 3,
            "requests_per_s": rate,
            "lowest": rate,
            "highest": rate,
            "p95_ms": 1.0,
            "errors": 0,
        }

    rates = {candidate.name: 100.0 for candidate in servers.CANDIDATES}
    rates["granian, ASGI"] = 150.0
    rates["uvicorn, ASGI (httptools, uvloop)"] = 120.0
    rates["gunicorn, WSGI (gthread)"] = 200.0
    rates["granian, WSGI"] = 300.0
    figures = {name: {column: cell(rate) for column in COLUMNS} for name, rate in rates.items()}
    routed = {"DRF list": cell(240.0), "Ninja list": cell(135.0)}
    report = {"figures": figures, "routed": routed, "taken_on": "Taken now."}
    text = servers.markdown(report, seconds=4, repeats=3)
    assert (
        "Shipped: Django REST Framework, the admin and the pages under **granian, WSGI**, the "
        "async API under **granian, ASGI**, a router in front. DRF list: granian, WSGI x2.00 "
        "granian, ASGI, x1.50 the fastest other server (gunicorn, WSGI (gthread)). Ninja list: "
        "granian, ASGI x1.25 the fastest other ASGI server (uvicorn, ASGI (httptools, uvloop))."
    ) in text
    assert (
        "Through the router (nginx, one worker process, on the same cores) in front of both "
        "shipped servers: DRF list 240 req/s (240 to 240), x0.80 its server direct; Ninja list "
        "135 req/s (135 to 135), x0.90 its server direct."
    ) in text


def test_livez_is_judged_run_by_run_against_the_ping_under_each_shipped_server() -> None:
    def cell(*rates: float) -> dict[str, Any]:
        return {"rates": list(rates)}

    figures = {
        "granian, WSGI": {"livez": cell(450, 520, 500), "bare ping": cell(1000, 1000, 1000)},
        "granian, ASGI": {"livez": cell(800, 800, 800), "bare ping": cell(600, 600, 600)},
    }
    verdict = servers.livez_verdict({"figures": figures, "quiet": True})

    assert verdict.verdict == "not met on this machine"  # one run under 0.5, none far under
    assert verdict.measured == (
        "each run's /livez over the same run's bare ping, granian, WSGI: 0.45, 0.52, 0.50; "
        "granian, ASGI: 1.33, 1.33, 1.33"
    )
    figures["granian, WSGI"]["livez"] = cell(500, 520, 500)
    assert servers.livez_verdict({"figures": figures, "quiet": True}).verdict == "confirmed"


HELLO = """
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"hello"})
"""


def test_uvicorn_binds_its_shared_socket_as_a_tcp_socket() -> None:
    """asyncio turns TCP_NODELAY on only for connections of a socket created with IPPROTO_TCP."""
    sock = uvicorn.Config("hello:app", host="127.0.0.1", port=0).bind_socket()
    with sock:
        assert sock.proto == socket.IPPROTO_TCP


@pytest.mark.parametrize(
    "candidate", [c for c in servers.CANDIDATES if c.name.startswith("uvicorn")], ids=str
)
def test_each_uvicorn_candidate_serves_with_its_workers(candidate: Any, tmp_path: Path) -> None:
    (tmp_path / "hello.py").write_text(HELLO)
    port = free_port()
    server = subprocess.Popen(
        candidate.argv("hello:app", port), cwd=tmp_path, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(lambda: httpx.get(url, timeout=2).text == "hello", 30, errors=(httpx.HTTPError,))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
