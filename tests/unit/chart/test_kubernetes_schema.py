"""Every object of the Kubernetes API that the chart renders is valid against the API's own
OpenAPI document (of the release charts/fetch-kubernetes-openapi fetches), strictly: a
misspelt or misplaced field fails here instead of being dropped by the API server."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.unit.chart.conftest import (
    FETCH_OPENAPI,
    SETUPS,
    name,
    pinned,
    strict,
    template,
    tools_dir,
    unavailable,
)

# Rendered kinds that the Kubernetes API itself does not define: the ACK resources (checked
# against their CRDs in test_aws.py) and the Prometheus Operator's, whose CRD is not at hand.
NOT_BUILT_IN = ("services.k8s.aws/", "monitoring.coreos.com/")


@pytest.fixture(scope="session")
def openapi_dir() -> Path:
    version = pinned(FETCH_OPENAPI, "KUBERNETES_VERSION")
    path = Path(
        os.environ.get("EMPORIUM_KUBE_OPENAPI") or tools_dir() / f"kubernetes-openapi-{version}"
    )
    if not (path / "api__v1_openapi.json").is_file():
        unavailable(
            f"the Kubernetes OpenAPI documents are not in {path}:"
            " run charts/fetch-kubernetes-openapi (needs Go)"
        )
    return path


@functools.cache
def document(path: Path) -> dict[str, Any]:
    """One group-version's OpenAPI document, its schemas made strict."""
    loaded = json.loads(path.read_text())
    return {"components": {"schemas": strict(loaded["components"]["schemas"])}}


def schema_of(openapi_dir: Path, api_version: str, kind: str) -> dict[str, Any]:
    group, _, version = api_version.rpartition("/")
    file = f"api__{version}_openapi.json" if not group else f"apis__{group}__{version}_openapi.json"
    path = openapi_dir / file
    assert path.is_file(), f"Kubernetes has no {api_version}"
    wanted = {"group": group, "version": version, "kind": kind}
    schemas = document(path)["components"]["schemas"]
    for schema_name, schema in schemas.items():
        if wanted in schema.get("x-kubernetes-group-version-kind", []):
            return {"$ref": f"#/components/schemas/{schema_name}", **document(path)}
    raise AssertionError(f"Kubernetes has no {kind} in {api_version}")


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_every_object_is_valid_against_the_kubernetes_api(
    helm: Path, openapi_dir: Path, setup: str
) -> None:
    rendered = template(helm, *SETUPS[setup])
    problems = []
    for o in rendered.objects:
        if any(marker in o["apiVersion"] for marker in NOT_BUILT_IN):
            continue
        schema = schema_of(openapi_dir, o["apiVersion"], o["kind"])
        validator = jsonschema.validators.validator_for(schema)(schema)
        problems += [
            f"{o['kind']}/{o['metadata']['name']} at "
            f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
            for error in validator.iter_errors(o)
        ]
    assert not problems, "\n".join(problems)


def test_a_misplaced_field_fails(helm: Path, openapi_dir: Path) -> None:
    deployment = template(helm, *SETUPS["kind"]).get("Deployment", name("catalog"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readOnlyRootFileSystem"] = True  # belongs in securityContext, and is misspelt
    with pytest.raises(jsonschema.ValidationError, match="readOnlyRootFileSystem"):
        jsonschema.validate(deployment, schema_of(openapi_dir, "apps/v1", "Deployment"))
