"""The router's server block, run by a real nginx in front of two servers that say who they are.

The block is the one Compose mounts (``deploy/router/shop.conf.template``), filled in as
:mod:`fashionistar_dev.router` fills it for ``make serve``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from fashionistar_dev.processes import ASYNC_API_PREFIX, free_port, shop_server_command
from fashionistar_dev.router import (
    ROUTER_TEMPLATE,
    listening_port,
    render_server_block,
    router_command,
    router_config,
)
from fashionistar_dev.stack.binaries import ensure_binaries
from tests.processes import wait_for


class _SaysWhoItIs(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "server": self.server.name,  # type: ignore[attr-defined]
                "path": self.path,
                "host": self.headers["Host"],
                "forwarded_for": self.headers["X-Forwarded-For"],
                "connection": self.headers["Connection"],
                "peer_port": self.client_address[1],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _upstream(name: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SaysWhoItIs)
    server.name = name  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    wsgi, asgi = _upstream("wsgi"), _upstream("asgi")
    port = free_port()
    config = router_config(
        folder=tmp_path_factory.mktemp("router"),
        port=port,
        wsgi_port=wsgi.server_address[1],
        asgi_port=asgi.server_address[1],
    )
    nginx = subprocess.Popen(router_command(ensure_binaries().nginx, config))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/"), 30, errors=(httpx.TransportError,))
        yield url
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)
        wsgi.shutdown()
        asgi.shutdown()


@pytest.mark.parametrize(
    ("path", "server"),
    [
        (f"{ASYNC_API_PREFIX}catalog/products?page=2", "asgi"),
        (f"{ASYNC_API_PREFIX}docs", "asgi"),
        ("/api/sync/catalog/products", "wsgi"),
        ("/", "wsgi"),
        ("/admin/login/", "wsgi"),
        ("/api/asyncish", "wsgi"),
        ("/livez", "wsgi"),
    ],
)
def test_the_async_api_goes_to_the_asgi_server_and_the_rest_to_the_wsgi_server(
    router: str, path: str, server: str
) -> None:
    seen = httpx.get(f"{router}{path}").json()
    assert (seen["server"], seen["path"]) == (server, path)


def test_metrics_pass_to_the_wsgi_server_for_this_machine_only(router: str) -> None:
    seen = httpx.get(f"{router}/metrics").json()
    assert (seen["server"], seen["path"]) == ("wsgi", "/metrics")
    # The same loopback port, reached from another address of this machine, as a client of
    # another machine would come.
    outside = httpx.HTTPTransport(local_address=_address_not_on_loopback())
    with httpx.Client(transport=outside) as client:
        assert client.get(f"{router}/metrics").status_code == 403
        assert client.get(f"{router}/metrics?format=text").status_code == 403
        assert client.get(f"{router}/%6Detrics").status_code == 403  # decoded before matching
        assert client.get(f"{router}/livez").json()["server"] == "wsgi"


def _address_not_on_loopback() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: sends nothing, picks a source address
        except OSError:  # no route out at all
            address = "127.0.0.1"
        else:
            address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("this machine has no address outside the loopback")
    return address


def test_the_servers_see_the_clients_host_and_address_never_one_it_made_up(router: str) -> None:
    seen = httpx.get(f"{router}/", headers={"X-Forwarded-For": "203.0.113.9"}).json()
    assert seen["host"] == router.removeprefix("http://")
    assert seen["forwarded_for"] == "127.0.0.1"


def test_the_router_keeps_its_connections_to_a_server_open(router: str) -> None:
    with httpx.Client() as client:
        first, second = (client.get(f"{router}{ASYNC_API_PREFIX}x").json() for _ in range(2))
    assert first["connection"] is None  # not "close"
    assert first["peer_port"] == second["peer_port"]


def test_a_variable_without_a_value_is_an_error_not_an_empty_address() -> None:
    with pytest.raises(KeyError, match="SHOP_ASGI_ADDRESS"):
        render_server_block(
            ROUTER_TEMPLATE.read_text(), {"ROUTER_PORT": "8000", "SHOP_WSGI_ADDRESS": "app:8000"}
        )


def test_nginx_accepts_the_block_as_compose_renders_it(tmp_path: Path) -> None:
    config = router_config(folder=tmp_path, port=free_port(), wsgi_port=1, asgi_port=2)
    check = subprocess.run(
        [*router_command(ensure_binaries().nginx, config), "-t"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr


def test_a_server_command_names_the_port_it_listens_on() -> None:
    command = shop_server_command(interface="wsgi", port=8123)

    assert listening_port(command) == 8123
