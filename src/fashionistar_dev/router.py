"""The shop's router on this machine: nginx with the deploy files' server block.

``deploy/router/shop.conf.template`` sends ``/api/async/`` to the ASGI server and everything
else to the WSGI server. nginx's official image fills in its ``${...}`` variables from its
environment (``deploy/docker-compose.yml``); :func:`router_config` does the same here, and wraps
the block in a main configuration that keeps nginx's files in a folder of ours and its errors on
stderr, so ``make serve`` and the tests run the very block Compose runs.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path

from fashionistar_dev.processes import free_ports, shop_server_command
from fashionistar_dev.stack.binaries import ensure_binaries

PROJECT_DIR = Path(__file__).resolve().parents[2]
ROUTER_TEMPLATE = PROJECT_DIR / "deploy" / "router" / "shop.conf.template"

_MAIN_CONFIG = string.Template("""\
daemon off;
pid $folder/nginx.pid;
error_log stderr warn;
worker_processes 1;
events {
    worker_connections 1024;
}
http {
    client_body_temp_path $folder/client_body;
    proxy_temp_path $folder/proxy;
    fastcgi_temp_path $folder/fastcgi;
    uwsgi_temp_path $folder/uwsgi;
    scgi_temp_path $folder/scgi;
    include $folder/shop.conf;
}
""")


def render_server_block(template: str, variables: dict[str, str]) -> str:
    """Fill in the ``${NAME}`` variables of a server block, as the image's ``envsubst`` does.

    Only the given names are replaced: nginx's own variables (``$remote_addr``) stay.

    Args:
        template: The template's text.
        variables: The values by name.

    Returns:
        The server block.

    Raises:
        KeyError: The template names a ``${...}`` variable that has no value.
    """
    block = string.Template(template).safe_substitute(variables)
    for match in string.Template.pattern.finditer(block):
        if match.group("braced"):
            raise KeyError(f"no value for ${{{match.group('braced')}}} in {ROUTER_TEMPLATE.name}")
    return block


def router_config(*, folder: Path, port: int, wsgi_port: int, asgi_port: int) -> Path:
    """Write nginx's configuration for the router on a loopback port.

    Args:
        folder: Where nginx keeps its configuration, its process id and its buffers.
        port: The router's port.
        wsgi_port: The WSGI server's port.
        asgi_port: The ASGI server's port.

    Returns:
        The main configuration file, for ``nginx -c``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    block = render_server_block(
        ROUTER_TEMPLATE.read_text(),
        {
            "ROUTER_PORT": f"127.0.0.1:{port}",
            "SHOP_WSGI_ADDRESS": f"127.0.0.1:{wsgi_port}",
            "SHOP_ASGI_ADDRESS": f"127.0.0.1:{asgi_port}",
        },
    )
    (folder / "shop.conf").write_text(block)
    main = folder / "nginx.conf"
    main.write_text(_MAIN_CONFIG.substitute(folder=folder))
    return main


def router_command(nginx: str, config: Path) -> list[str]:
    """Return the command line that runs the router in the foreground.

    Args:
        nginx: The nginx program.
        config: The file :func:`router_config` wrote.

    Returns:
        The command line (``-e stderr``: nginx logs there before it has read the file, too).
    """
    return [nginx, "-e", "stderr", "-p", str(config.parent), "-c", str(config)]


def listening_port(command: Sequence[str]) -> int:
    """Return the port a server command of :func:`routed_shop_commands` listens on.

    Args:
        command: The command line (its ``--port``).

    Returns:
        The port.
    """
    return int(command[list(command).index("--port") + 1])


def routed_shop_commands(*, folder: Path, port: int, workers: int = 1) -> dict[str, list[str]]:
    """Return the shop as the deploy files run it, on loopback: its processes' command lines.

    The WSGI and the ASGI server commands on free ports, and the router in front on ``port``.

    Args:
        folder: Where the router keeps its files.
        port: The router's port: the shop's address.
        workers: Worker processes of each server.

    Returns:
        The command lines by name (``shop-wsgi``, ``shop-asgi``, ``router``), servers first.
    """
    wsgi_port, asgi_port = free_ports(2)
    config = router_config(folder=folder, port=port, wsgi_port=wsgi_port, asgi_port=asgi_port)
    return {
        "shop-wsgi": shop_server_command(interface="wsgi", port=wsgi_port, workers=workers),
        "shop-asgi": shop_server_command(interface="asgi", port=asgi_port, workers=workers),
        "router": router_command(ensure_binaries().nginx, config),
    }
