"""Run a command against a throwaway stack: ``python -m fashionistar.stack -- CMD ARGS``.

Without a command it starts the stack, prints its environment, and waits for Ctrl-C.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import threading

from fashionistar.stack import running_stack


def main(argv: list[str]) -> int:
    """Start a stack, run the command with the stack's environment, stop the stack.

    Args:
        argv: The command and its arguments (a leading ``--`` is dropped).

    Returns:
        The command's exit code.
    """
    command = argv[1:] if argv[:1] == ["--"] else argv
    with running_stack() as stack:
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
