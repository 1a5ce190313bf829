"""The pinned uv for `make`, installed without pip and without touching the system Python.

Debian 12+ and Ubuntu 23.04+ refuse `pip install` into the system Python (PEP 668), and a fresh
machine often has no pip at all. This script downloads uv's wheel for this platform from PyPI,
checks its sha256 against the one PyPI's JSON API lists, and extracts the `uv` binary into a
per-user cache that every clone shares:

    ${XDG_CACHE_HOME:-$HOME/.cache}/fashionistar/uv-<version>/uv

It prints that path; once the binary is there, it downloads nothing.

It runs before any environment exists, with whatever `python3` (3.9+) the machine has, so it
imports only the standard library:

    python3 src/fashionistar_dev/uv_bootstrap.py   # prints the path of uv
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import sys
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

UV_VERSION = "0.13.9"  # the version deploy/Dockerfile installs (tests/dev/test_setup.py checks)
PYPI = "https://pypi.org/pypi"
# (platform.system(), platform.machine()) -> the architecture in uv's wheel tags.
ARCHITECTURES = {
    ("Linux", "x86_64"): "x86_64",
    ("Linux", "aarch64"): "aarch64",
    ("Linux", "arm64"): "aarch64",
    ("Darwin", "x86_64"): "x86_64",
    ("Darwin", "arm64"): "arm64",
}
INSTALL_YOURSELF = (
    "install uv yourself (https://docs.astral.sh/uv/getting-started/installation/) "
    "so that `uv` is on PATH, then run make again"
)


class BootstrapError(Exception):
    """uv cannot be installed here; the message says why and what to do instead."""


def uv_path(version: str = UV_VERSION) -> Path:
    """Where the bootstrapped uv lives: one binary per user and version, shared by every clone.

    Args:
        version: the uv version.

    Returns:
        `${XDG_CACHE_HOME:-$HOME/.cache}/fashionistar/uv-<version>/uv`.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "fashionistar" / f"uv-{version}" / "uv"


def wheel_platform(system: str, machine: str, libc: str) -> tuple[str, str]:
    """The platform tag family and architecture of the uv wheel that runs on a platform.

    Args:
        system: `platform.system()`.
        machine: `platform.machine()`.
        libc: `platform.libc_ver()[0]`: "glibc", or "" for another libc such as musl.

    Returns:
        The tag family ("manylinux", "musllinux" or "macosx") and the architecture.

    Raises:
        BootstrapError: no uv wheel is known to run on this platform.
    """
    architecture = ARCHITECTURES.get((system, machine))
    if architecture is None:
        raise BootstrapError(
            f"no uv wheel is known to run on {system} {machine}: {INSTALL_YOURSELF}"
        )
    if system == "Darwin":
        return "macosx", architecture
    return ("manylinux" if libc == "glibc" else "musllinux"), architecture


def choose_wheel(files: list[dict[str, Any]], family: str, architecture: str) -> dict[str, Any]:
    """The first wheel among a release's files whose platform tags fit.

    Args:
        files: the release's files as PyPI's JSON API lists them.
        family: "manylinux", "musllinux" or "macosx".
        architecture: the architecture in the wheel tags, such as "x86_64".

    Returns:
        The file's entry: `filename`, `url`, `digests`.

    Raises:
        BootstrapError: the release has no such wheel.
    """
    for file in files:
        # uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl: the last field.
        tags = file["filename"].rsplit("-", 1)[-1].split(".")
        if any(tag.startswith(f"{family}_") and tag.endswith(f"_{architecture}") for tag in tags):
            return file
    raise BootstrapError(f"uv has no {family} {architecture} wheel on PyPI: {INSTALL_YOURSELF}")


def verify_sha256(data: bytes, expected: str, name: str) -> None:
    """Refuse a download whose sha256 is not the one PyPI lists.

    Args:
        data: the downloaded file.
        expected: the sha256 hex digest PyPI lists for it.
        name: the file's name, for the message.

    Raises:
        BootstrapError: the digests differ.
    """
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise BootstrapError(
            f"{name} has sha256 {actual}, but PyPI lists {expected}: the download is corrupt "
            "or was altered on the way; nothing was installed, run make again"
        )


def fetch(url: str) -> bytes:
    """GET a URL.

    Args:
        url: an https URL on PyPI.

    Returns:
        The response body.

    Raises:
        ValueError: The URL is not https.
    """
    if not url.startswith("https://"):
        raise ValueError(f"refusing to download from {url!r}: only https")
    # The scheme is checked above: no file:// or custom scheme reaches urlopen.
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310  # nosec B310
        body: bytes = response.read()
    return body


def release_files(version: str) -> tuple[str, list[dict[str, Any]]]:
    """The files of a uv release on PyPI.

    Args:
        version: the uv version.

    Returns:
        The JSON document's URL (file URLs may be relative to it) and the release's files.

    Raises:
        BootstrapError: PyPI has no such release.
    """
    url = f"{PYPI}/uv/{version}/json"
    try:
        document: dict[str, Any] = json.loads(fetch(url))
        return url, document["urls"]
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
    # Some PyPI mirrors serve only the project document, which lists every release.
    url = f"{PYPI}/uv/json"
    document = json.loads(fetch(url))
    files: list[dict[str, Any]] = document["releases"].get(version, [])
    if not files:
        raise BootstrapError(f"PyPI has no uv {version}")
    return url, files


def extract_uv(wheel: bytes, version: str, target: Path) -> None:
    """Write the wheel's `uv` binary to `target`, executable.

    Args:
        wheel: the uv wheel.
        version: its version, which names the folder the binary is in.
        target: where the binary goes; its folder is created.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
            partial.write_bytes(archive.read(f"uv-{version}.data/scripts/uv"))
        partial.chmod(0o755)
        # Atomic: a make running at the same time in another clone sees the whole binary or none.
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def ensure_uv(version: str = UV_VERSION) -> Path:
    """The pinned uv, downloaded from PyPI and verified the first time only.

    Args:
        version: the uv version.

    Returns:
        The path of the uv binary.
    """
    target = uv_path(version)
    if os.access(target, os.X_OK):
        return target
    family, architecture = wheel_platform(
        platform.system(), platform.machine(), platform.libc_ver()[0]
    )
    base, files = release_files(version)
    wheel = choose_wheel(files, family, architecture)
    print(f"Downloading {wheel['filename']} from PyPI into {target.parent}", file=sys.stderr)
    data = fetch(urllib.parse.urljoin(base, wheel["url"]))
    verify_sha256(data, wheel["digests"]["sha256"], wheel["filename"])
    extract_uv(data, version, target)
    return target


def main() -> int:
    """Print the path of the pinned uv, installing it first when needed.

    Returns:
        The exit status: 0, or 1 with the reason on stderr.
    """
    try:
        print(ensure_uv())
    except BootstrapError as error:
        print(f"uv_bootstrap: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"uv_bootstrap: cannot install uv {UV_VERSION} ({error}): {INSTALL_YOURSELF}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
