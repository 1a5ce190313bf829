"""Fetch the Kubernetes JSON schemas the manifests under ``deploy/k8s/`` are validated against.

The schemas come from the PyPI package ``kubernetes-validate`` (its wheel ships per-kind
``local-strict`` schemas for every Kubernetes release it supports), fetched with pip and checked
against a pinned SHA-256. A per-kind file there points into a shared ``_definitions.json`` of
about 1.5 MB; this script makes each kind's schema standalone (the kind plus only the
definitions it reaches, references rewritten to ``#/$defs/...``) and writes it to
``deploy/schemas/kubernetes/<release>-standalone-strict/``. The files are committed: the tests
read them offline.

Run it once per upgrade, from the repository root, with a Python that has pip::

    python3 deploy/schemas/fetch_kubernetes.py
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

PACKAGE = "kubernetes-validate"
PACKAGE_VERSION = "1.37.0"
WHEEL = f"kubernetes_validate-{PACKAGE_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"

# The oldest and the newest release the package ships: the manifests must hold on both.
KUBERNETES_RELEASES = ("v1.25.0", "v1.37.0")
# One schema per kind and API version used under deploy/k8s/ (file names as in the package:
# kind, the API group's first label, version; networking.k8s.io/v1 is "networking-v1").
KINDS = (
    "configmap-v1",
    "deployment-apps-v1",
    "horizontalpodautoscaler-autoscaling-v2",
    "ingress-networking-v1",
    "job-batch-v1",
    "poddisruptionbudget-policy-v1",
    "service-v1",
)
SHARED_REF = "/api/_definitions.json#/$defs/"
LOCAL_REF = "#/$defs/"
OUTPUT_DIR = Path(__file__).resolve().parent / "kubernetes"


def download_wheel(directory: Path) -> Path:
    """Download the pinned wheel with pip and check its hash.

    Args:
        directory: Where to put the wheel.

    Returns:
        The wheel's path.

    Raises:
        RuntimeError: The file's SHA-256 is not the pinned one.
    """
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(directory),
            f"{PACKAGE}=={PACKAGE_VERSION}",
        ],
        check=True,
    )
    wheel = directory / WHEEL
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{wheel.name}: sha256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def _rewrite_refs(node: Any, reached: set[str]) -> Any:
    """Point shared references at local ``$defs`` and note which definitions they reach."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.removeprefix(SHARED_REF).removeprefix(LOCAL_REF)
                reached.add(name)
                out[key] = LOCAL_REF + name
            else:
                out[key] = _rewrite_refs(value, reached)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, reached) for item in node]
    return node


def standalone(kind_schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Make one kind's schema self-contained.

    Args:
        kind_schema: The package's per-kind schema (references into ``_definitions.json``).
        definitions: The ``$defs`` of ``_definitions.json``.

    Returns:
        The kind's schema with the definitions it reaches under its own ``$defs``.
    """
    reached: set[str] = set()
    schema = _rewrite_refs(kind_schema, reached)
    local: dict[str, Any] = {}
    pending = sorted(reached)
    while pending:
        name = pending.pop()
        if name in local:
            continue
        found: set[str] = set()
        local[name] = _rewrite_refs(definitions[name], found)
        pending.extend(sorted(found - local.keys()))
    schema["$defs"] = dict(sorted(local.items()))
    return schema


def extract(wheel: Path) -> list[Path]:
    """Write the standalone schemas of :data:`KINDS` for each of :data:`KUBERNETES_RELEASES`.

    Args:
        wheel: The downloaded wheel.

    Returns:
        The files written.
    """
    written = []
    with zipfile.ZipFile(wheel) as archive:
        for release in KUBERNETES_RELEASES:
            source = f"kubernetes_validate/kubernetes-json-schema/{release}-local-strict"
            definitions = json.loads(archive.read(f"{source}/_definitions.json"))["$defs"]
            target = OUTPUT_DIR / f"{release}-standalone-strict"
            target.mkdir(parents=True, exist_ok=True)
            for kind in KINDS:
                schema = standalone(json.loads(archive.read(f"{source}/{kind}.json")), definitions)
                path = target / f"{kind}.json"
                path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
                written.append(path)
    return written


def main() -> int:
    """Download, check and extract the schemas.

    Returns:
        The exit code.
    """
    with tempfile.TemporaryDirectory() as directory:
        for path in extract(download_wheel(Path(directory))):
            print(f"wrote {path.relative_to(OUTPUT_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
