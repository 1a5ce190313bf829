"""Kubernetes manifests validate against the Kubernetes JSON schemas of two releases, offline."""

from __future__ import annotations

import json

import pytest

from tests.deploy.support import DEPLOY, K8S, SCHEMAS, check_jsonschema, load_script, load_yaml

fetch = load_script(DEPLOY / "schemas" / "fetch_kubernetes.py")
MANIFESTS = sorted(K8S.glob("*.yaml"))


def schema_name(manifest: dict[str, str]) -> str:
    """The schema file name for a manifest's kind and apiVersion.

    The kind, the API group's first label and the version, as the package names them:
    ``service-v1``, ``deployment-apps-v1``, ``ingress-networking-v1`` (networking.k8s.io/v1).
    """
    group, _, version = manifest["apiVersion"].rpartition("/")
    parts = (manifest["kind"].lower(), group.partition(".")[0], version)
    return "-".join(part for part in parts if part)


def test_schema_names_follow_the_package() -> None:
    names = [
        schema_name({"kind": kind, "apiVersion": api_version})
        for kind, api_version in [
            ("Service", "v1"),
            ("Deployment", "apps/v1"),
            ("Ingress", "networking.k8s.io/v1"),
        ]
    ]
    assert names == ["service-v1", "deployment-apps-v1", "ingress-networking-v1"]


def test_vendored_schemas_are_the_ones_the_fetch_script_writes() -> None:
    expected = {f"{release}-standalone-strict" for release in fetch.KUBERNETES_RELEASES}
    assert {path.name for path in SCHEMAS.iterdir() if path.is_dir()} == expected
    for release_dir in SCHEMAS.iterdir():
        if release_dir.is_dir():
            assert sorted(p.stem for p in release_dir.glob("*.json")) == sorted(fetch.KINDS)
            for path in release_dir.glob("*.json"):
                assert "/api/_definitions.json" not in path.read_text(), f"{path} not standalone"


def test_every_manifest_has_a_vendored_schema() -> None:
    assert MANIFESTS
    kinds = {schema_name(load_yaml(path)) for path in MANIFESTS}
    assert kinds <= set(fetch.KINDS)


@pytest.mark.parametrize("release", fetch.KUBERNETES_RELEASES)
def test_kubernetes_manifests_validate(release: str) -> None:
    by_schema: dict[str, list[str]] = {}
    for path in MANIFESTS:
        by_schema.setdefault(schema_name(load_yaml(path)), []).append(str(path))
    for name, paths in by_schema.items():
        schema = SCHEMAS / f"{release}-standalone-strict" / f"{name}.json"
        code, output = check_jsonschema("--schemafile", str(schema), *paths)
        assert code == 0, output


def test_strict_schema_rejects_an_unknown_field(tmp_path) -> None:
    hpa = load_yaml(K8S / "hpa.yaml")
    hpa["spec"]["maxReplica"] = 3  # a typo of maxReplicas
    wrong = tmp_path / "hpa.json"
    wrong.write_text(json.dumps(hpa))
    schema = SCHEMAS / "v1.37.0-standalone-strict" / "horizontalpodautoscaler-autoscaling-v2.json"
    code, output = check_jsonschema("--schemafile", str(schema), str(wrong))
    assert code == 1
    assert "maxReplica" in output
