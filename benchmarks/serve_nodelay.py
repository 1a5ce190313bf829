"""Serve an app with uvicorn's own multi-process supervisor, with TCP_NODELAY on every connection.

``uvicorn --workers N`` binds its listening socket with ``proto`` 0; accepted connections
inherit it, and asyncio turns on ``TCP_NODELAY`` only for sockets whose ``proto`` is TCP. So with
several workers Nagle's algorithm stays on, and on Linux each keep-alive request after the first
waits for the client's delayed ACK, about 40 ms (uvicorn issue #3149; a single worker is not
affected). This launcher binds the socket as a TCP socket, then runs uvicorn unchanged.

Usage: ``python benchmarks/serve_nodelay.py APP --port 8000 --workers 2 [--interface wsgi]
[--http httptools --loop uvloop]``
"""

from __future__ import annotations

import argparse
import socket
import sys

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess


class NoDelayConfig(uvicorn.Config):
    """uvicorn's configuration, binding a listening socket whose connections get TCP_NODELAY."""

    def bind_socket(self) -> socket.socket:
        """Bind the listening socket with ``proto`` IPPROTO_TCP.

        Returns:
            The socket, inheritable by the worker processes.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.set_inheritable(True)
        return sock


def main(argv: list[str] | None = None) -> int:
    """Run the server until it is stopped.

    Args:
        argv: The command-line arguments.

    Returns:
        The exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--interface", default="asgi3", choices=["asgi3", "wsgi"])
    # "auto", as uvicorn's own command: httptools and uvloop when installed (uvicorn[standard]).
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    args = parser.parse_args(argv)
    config = NoDelayConfig(
        args.app,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        interface=args.interface,
        http=args.http,
        loop=args.loop,
        log_level="warning",
        access_log=False,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
