"""The server programs the native stack runs, and the unprivileged user it runs them as."""

from __future__ import annotations

import fcntl
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fashionistar_dev.stack.types import StackError

SUPERUSER = "postgres"
MIN_POSTGRES_MAJOR = 15
DEBIAN_PACKAGES = ("postgresql", "pgbouncer", "redis-server", "nginx")
SERVICE_USER_FALLBACK = "fashionistar"
APT_LOCK = Path(tempfile.gettempdir()) / "fashionistar-apt-get.lock"


@dataclass(frozen=True)
class Binaries:
    """Paths of the server programs the native stack runs."""

    initdb: str
    postgres: str
    pgbouncer: str
    redis_server: str
    nginx: str
    """The shop's router (``make serve``; the stack itself does not run it)."""


def _postgres_bin_dirs() -> list[Path]:
    found = shutil.which("initdb")
    dirs = [Path(found).resolve().parent] if found else []

    def major(path: Path) -> int:
        return int(path.parent.name) if path.parent.name.isdigit() else 0

    dirs += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)
    return dirs


def find_binaries() -> Binaries | None:
    """Look for the server programs on ``PATH`` and in Debian's PostgreSQL folders.

    Returns:
        Their paths, or ``None`` when one is missing.
    """
    pg_dir = next((d for d in _postgres_bin_dirs() if (d / "postgres").exists()), None)
    pgbouncer = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    redis_server = shutil.which("redis-server")
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if pg_dir is None or pgbouncer is None or redis_server is None or nginx is None:
        return None
    return Binaries(
        initdb=str(pg_dir / "initdb"),
        postgres=str(pg_dir / "postgres"),
        pgbouncer=pgbouncer,
        redis_server=redis_server,
        nginx=nginx,
    )


def installed(packages: Sequence[str]) -> bool:
    """Tell whether dpkg lists every one of some Debian packages as installed.

    Args:
        packages: The package names.

    Returns:
        ``True`` when all of them are installed.
    """
    query = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${db:Status-Status}\\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    return query.returncode == 0 and set(query.stdout.split()) == {"installed"}


def apt_install(packages: Sequence[str]) -> bool:
    """Install Debian packages with apt-get, if this is root on a machine that has it.

    Parallel test workers ask at the same moment: one installs while the others wait on a file
    lock, then find the packages there.

    Args:
        packages: The package names.

    Returns:
        Whether the packages are installed now (apt-get raises if it fails).
    """
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    with APT_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed(packages):
            return True
        print(f"installing {' '.join(packages)} with apt-get ...")
        apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # An install killed half-way (a test run stopped with Ctrl-C) blocks every later one.
        subprocess.run(["dpkg", "--configure", "-a"], check=True, env=apt_env)
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
            check=True,
            env=apt_env,
        )
    return True


def ensure_binaries() -> Binaries:
    """Find the server programs, installing Debian's packages when root and they are missing.

    Returns:
        The programs' paths.

    Raises:
        StackError: They are missing and cannot be installed here.
    """
    binaries = find_binaries()
    if binaries is None and apt_install(DEBIAN_PACKAGES):
        binaries = find_binaries()
    if binaries is None:
        raise StackError(
            "PostgreSQL, PgBouncer, Redis and nginx are needed for the native stack. "
            f"Install the packages {', '.join(DEBIAN_PACKAGES)} (Debian/Ubuntu names), "
            "or set DATABASE_URL and REDIS_URL to running services."
        )
    version = subprocess.run(
        [binaries.postgres, "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", version)
    if match is None or int(match.group(1)) < MIN_POSTGRES_MAJOR:
        raise StackError(f"PostgreSQL {MIN_POSTGRES_MAJOR} or newer is needed, found: {version}")
    return binaries


def service_user() -> pwd.struct_passwd | None:
    """Return the unprivileged user the servers run as when we are root.

    Uses ``postgres`` when it exists, else creates a system user ``fashionistar``.

    Returns:
        The user's passwd entry, or ``None`` when we are not root (the servers run as us).
    """
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, SERVICE_USER_FALLBACK):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_USER_FALLBACK], check=True)
    return pwd.getpwnam(SERVICE_USER_FALLBACK)
