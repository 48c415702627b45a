"""Every object of the Kubernetes API that the chart renders is valid against the API's own
OpenAPI document (of the release charts/fetch-kubernetes-openapi fetches), and every Prometheus
Operator object against its CRD (of the release charts/fetch-prometheus-operator-crds fetches),
strictly: a misspelt or misplaced field fails here instead of being dropped by the API server."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.unit.chart.conftest import (
    CHART,
    FETCH_OPENAPI,
    SETUPS,
    name,
    pinned,
    strict,
    template,
    tools_dir,
    unavailable,
)

FETCH_PROMETHEUS_CRDS = CHART.parent / "fetch-prometheus-operator-crds"
PROMETHEUS_OPERATOR = "monitoring.coreos.com/"
# Rendered kinds that the Kubernetes API itself does not define: the ACK resources (checked
# against their CRDs in test_aws.py) and the Prometheus Operator's (against its CRDs, here).
NOT_BUILT_IN = ("services.k8s.aws/", PROMETHEUS_OPERATOR)


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


class CrdLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A safe loader, in C where PyYAML has it (the CRDs are megabytes), that reads a lone `=`
    as YAML 1.2 and Kubernetes do: a string (an enum of AlertmanagerConfig lists it)."""


CrdLoader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


@pytest.fixture(scope="session")
def prometheus_crds() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict schema of that version of the Prometheus Operator's CRD."""
    version = pinned(FETCH_PROMETHEUS_CRDS, "PROMETHEUS_OPERATOR_VERSION")
    folder = tools_dir() / f"prometheus-operator-crds-{version}"
    if not (folder / "monitoring.coreos.com_servicemonitors.yaml").is_file():
        unavailable(
            f"the Prometheus Operator's CRDs are not in {folder}:"
            " run charts/fetch-prometheus-operator-crds (needs Go)"
        )
    schemas = {}
    for path in sorted(folder.glob("*.yaml")):
        for crd in yaml.load_all(path.read_text(), Loader=CrdLoader):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version_of in crd["spec"]["versions"]:
                api_version = f"{group}/{version_of['name']}"
                schemas[(api_version, kind)] = strict(version_of["schema"]["openAPIV3Schema"])
    return schemas


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
        problems += validation_problems(o, schema_of(openapi_dir, o["apiVersion"], o["kind"]))
    assert not problems, "\n".join(problems)


def validation_problems(o: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{o['kind']}/{o['metadata']['name']} at "
        f"{'/'.join(str(part) for part in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(o)
    ]


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_every_prometheus_operator_object_is_valid_against_its_crd(
    helm: Path, prometheus_crds: dict[tuple[str, str], dict[str, Any]], setup: str
) -> None:
    problems = []
    for o in template(helm, *SETUPS[setup]).objects:
        if PROMETHEUS_OPERATOR not in o["apiVersion"]:
            continue
        schema = prometheus_crds.get((o["apiVersion"], o["kind"]))
        assert schema is not None, f"the Prometheus Operator has no {o['apiVersion']} {o['kind']}"
        problems += validation_problems(o, schema)
    assert not problems, "\n".join(problems)


def test_some_setup_renders_a_service_monitor(helm: Path) -> None:
    # Or the check above would pass on nothing.
    assert any(template(helm, *args).of_kind("ServiceMonitor") for args in SETUPS.values()), (
        "no setup turns metrics.serviceMonitor on"
    )


def test_a_misplaced_service_monitor_field_fails(
    helm: Path, prometheus_crds: dict[tuple[str, str], dict[str, Any]]
) -> None:
    rendered = template(helm, *SETUPS["kind"], "--set=metrics.serviceMonitor.enabled=true")
    monitor = rendered.of_kind("ServiceMonitor")[0]
    monitor["spec"]["endpoints"][0]["scrape_timeout"] = "5s"  # Prometheus's spelling, not the CRD's
    schema = prometheus_crds[(monitor["apiVersion"], "ServiceMonitor")]
    assert any("scrape_timeout" in problem for problem in validation_problems(monitor, schema))


def test_a_misplaced_field_fails(helm: Path, openapi_dir: Path) -> None:
    deployment = template(helm, *SETUPS["kind"]).get("Deployment", name("catalog"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readOnlyRootFileSystem"] = True  # belongs in securityContext, and is misspelt
    with pytest.raises(jsonschema.ValidationError, match="readOnlyRootFileSystem"):
        jsonschema.validate(deployment, schema_of(openapi_dir, "apps/v1", "Deployment"))
