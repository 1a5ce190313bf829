"""Run a command against a throwaway stack.

``python -m fashionistar_dev.stack [--redis-ha] -- CMD``.

Without a command it starts the stack, prints its environment, and waits for Ctrl-C.
``--redis-ha`` runs Redis as a master, a replica and three Sentinels (like
``FASHIONISTAR_REDIS_HA=1``).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading

from fashionistar_dev.stack import running_stack


def main(argv: list[str]) -> int:
    """Start a stack, run the command with the stack's environment, stop the stack.

    Args:
        argv: ``--redis-ha`` if wanted, then the command and its arguments (a leading ``--``
            is dropped).

    Returns:
        The command's exit code.
    """
    redis_ha = None
    if argv[:1] == ["--redis-ha"]:
        redis_ha, argv = True, argv[1:]
    command = argv[1:] if argv[:1] == ["--"] else argv
    with running_stack(redis_ha=redis_ha) as stack:
        env = stack.urls.environ()
        if not command:
            for name, value in env.items():
                print(f"export {name}={value}")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                return 0
        import os

        full_env = {**os.environ, **env}
        full_env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
        return subprocess.run(command, env=full_env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
