"""Run a command against a throwaway stack.

``python -m fashionistar_dev.stack [--redis-ha] -- CMD``.

Without a command it starts the stack, prints its environment, and waits for Ctrl-C.
``--redis-ha`` runs Redis as a master, a replica and three Sentinels (like
``FASHIONISTAR_REDIS_HA=1``). SIGINT, SIGTERM, SIGHUP or the death of its parent stop the
command and the stack.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys

from fashionistar_dev.processes import die_with_parent, stopped_by_signals
from fashionistar_dev.stack import running_stack

INTERRUPTED = 130
"""The exit code of a command stopped by a signal, as a shell reports Ctrl-C."""


def main(argv: list[str]) -> int:
    """Start a stack, run the command with the stack's environment, stop the stack.

    Args:
        argv: ``--redis-ha`` if wanted, then the command and its arguments (a leading ``--``
            is dropped).

    Returns:
        The command's exit code (130 when a signal stopped it); 0 without a command.
    """
    parser = argparse.ArgumentParser(
        prog="python -m fashionistar_dev.stack", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--redis-ha",
        action="store_true",
        help="a master, a replica and three Sentinels (default: FASHIONISTAR_REDIS_HA)",
    )
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        help="run this, then stop the stack (without it: print the environment and wait)",
    )
    args = parser.parse_args(argv)
    redis_ha = True if args.redis_ha else None
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with stopped_by_signals():
        try:
            with running_stack(redis_ha=redis_ha) as stack:
                env = stack.urls.environ()
                if not command:
                    for name, value in env.items():
                        print(f"export {name}={value}", flush=True)
                    while True:
                        signal.pause()
                full_env = {**os.environ, **env}
                full_env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
                child = subprocess.Popen(command, env=full_env, preexec_fn=die_with_parent)
                try:
                    return child.wait()
                finally:
                    if child.poll() is None:
                        child.terminate()
                        child.wait()
        except KeyboardInterrupt:
            return INTERRUPTED if command else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
