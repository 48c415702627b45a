"""The chart's tests: `helm lint` and `helm template` through the helm binary, output read with
PyYAML.

helm is the one `charts/build-helm` builds into the cache (its pinned version), or
$EMPORIUM_HELM; the Kubernetes API's OpenAPI documents are the ones
`charts/fetch-kubernetes-openapi` puts there. Without them the tests that need them skip and
say how to make them; under CI (`CI` set) they fail instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "emporium"
BUILD_HELM = ROOT / "charts" / "build-helm"
FETCH_OPENAPI = ROOT / "charts" / "fetch-kubernetes-openapi"
RELEASE, NAMESPACE = "shop", "store"

# Every secret given at install, as values-kind.yaml's header shows.
SECRET_VALUES = {
    "catalogAdminToken": "kind-admin-token-0123456789",
    "catalogHmacKey": "kind-catalog-hmac-key-0123456789abcdef",
    "ordersInternalToken": "kind-internal-token-0123456789",
    "ordersHmacKey": "kind-orders-hmac-key-0123456789abcdef",
}
SECRETS = [f"--set-string=secrets.{name}.value={value}" for name, value in SECRET_VALUES.items()]
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI"
# Sign-in's issuer and audience, required at install unless the development issuer runs (kind).
SIGN_IN = [f"--set=orders.oidc.issuer={ISSUER},orders.oidc.audience=3n4b5urk1ft4fl3mg5e62d9ado"]
REDIS_URL = "rediss://master.emporium.abc123.euw1.cache.amazonaws.com:6379/0"
SUBNETS = "{subnet-0a1b2c3d,subnet-0e1f2a3b}"
LISTENER = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/k8s-emporium-0a1b2c3d4e"
    "/50dc6c495c0c9188/f2f7dc8efc522ab2"
)
EKS = [
    "-f",
    str(CHART / "values-eks.yaml"),
    f"--set=redis.url={REDIS_URL}",
    f"--set=aws.elasticache.subnetIds={SUBNETS}",
    "--set=aws.elasticache.securityGroupIds={sg-0a1b2c3d}",
    *SIGN_IN,
]

# The release's setups that the checks run on: each values file, and --set combinations.
SETUPS: dict[str, list[str]] = {
    "kind": ["-f", str(CHART / "values-kind.yaml"), *SECRETS],
    "eks": EKS,
    "eks-with-api-gateway": [
        *EKS,
        f"--set=aws.apiGateway.albListenerArn={LISTENER}",
        f"--set=aws.apiGateway.subnetIds={SUBNETS}",
        "--set=aws.apiGateway.accessLogArn=arn:aws:logs:eu-west-1:123456789012:log-group:api",
    ],
    "defaults": [
        "--set=secrets.create=true",
        *SECRETS,
        *SIGN_IN,
        f"--set=redis.url={REDIS_URL}",
    ],
    "kind-autoscaled-with-ingress-and-monitoring": [
        "-f",
        str(CHART / "values-kind.yaml"),
        *SECRETS,
        *SIGN_IN,
        "--set=catalog.autoscaling.enabled=true,catalog.autoscaling.minReplicas=3",
        "--set=fulfillment.replicaCount=3",
        "--set=ingress.enabled=true,ingress.className=nginx,ingress.host=shop.example.com",
        "--set=networkPolicy.ingressControllerNamespace=ingress-nginx",
        "--set=networkPolicy.metricsNamespace=monitoring",
        "--set=metrics.serviceMonitor.enabled=true",
        "--set=settings.otlpEndpoint=http://otel-collector.observability:4318",
    ],
    "kind-with-the-load-job": [
        "-f",
        str(CHART / "values-kind.yaml"),
        *SECRETS,
        "--set=load.enabled=true",
    ],
    "eks-without-network-policies-long-name": [
        *EKS,
        "--set=networkPolicy.enabled=false,seed.enabled=false",
        "--set=fullnameOverride="
        + "a-release-name-that-is-far-too-long-for-kubernetes-object-names",
    ],
}


def pinned(script: Path, variable: str) -> str:
    """The version a script of charts/ (`VAR=${VAR:-v1}`) or the Makefile (`VAR ?= v1`) uses by
    default: one place says it."""
    match = re.search(rf"{variable}(?:=\$\{{{variable}:-| \?= )(v[0-9.]+)", script.read_text())
    assert match, f"{script.name} no longer names its default {variable}"
    return match[1]


def tools_dir() -> Path:
    """Where charts/build-helm and charts/fetch-kubernetes-openapi put what they make."""
    cache = os.environ.get("EMPORIUM_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emporium"
    )
    return Path(cache) / "tools"


def unavailable(message: str) -> NoReturn:
    """A tool the test needs is missing: skip on a laptop, fail under CI."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every test: {message}")
    pytest.skip(message)


def _helm_at(path: Path, build: str) -> Path:
    if not os.access(path, os.X_OK):
        unavailable(f"helm is not at {path}: build it with {build} (needs Go), or make chart-tools")
    return path


@pytest.fixture(scope="session")
def helm() -> Path:
    """Helm 3, which most checks render with."""
    version = pinned(BUILD_HELM, "HELM_VERSION")
    default = tools_dir() / f"helm-{version}" / "helm"
    return _helm_at(Path(os.environ.get("EMPORIUM_HELM") or default), "charts/build-helm")


@pytest.fixture(scope="session")
def helm4() -> Path:
    """Helm 4, which must render the same release (the Makefile's HELM4_VERSION)."""
    version = pinned(ROOT / "Makefile", "HELM4_VERSION")
    default = tools_dir() / f"helm-{version}" / "helm"
    return _helm_at(
        Path(os.environ.get("EMPORIUM_HELM4") or default),
        f"HELM_VERSION={version} charts/build-helm",
    )


def strict(schema: Any) -> Any:
    """An OpenAPI schema with unknown fields refused wherever it lists an object's fields, as
    `kubectl apply --validate=strict` does (the API server would drop them silently)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@dataclass(frozen=True)
class Release:
    """What `helm template` rendered, as objects."""

    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
        return found[0]

    def has(self, kind: str, name: str) -> bool:
        return any(o["metadata"]["name"] == name for o in self.of_kind(kind))

    def workloads(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(object, pod spec's template {metadata, spec}) of every Deployment, Job and Pod."""
        found = []
        for o in self.objects:
            if o["kind"] in ("Deployment", "Job"):
                found.append((o, o["spec"]["template"]))
            elif o["kind"] == "Pod":
                found.append((o, o))
        return found

    def pods_matching(self, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        """The pod templates whose labels carry every label of `selector`."""
        return [
            pod
            for _, pod in self.workloads()
            if selector.items() <= pod["metadata"].get("labels", {}).items()
        ]

    def config(self, component: str) -> dict[str, str]:
        data: dict[str, str] = self.get("ConfigMap", name(component))["data"]
        return data


def name(component: str) -> str:
    """The name of a component's objects in the test release."""
    return f"{RELEASE}-emporium-{component}"


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(helm), *args], capture_output=True, text=True, check=False)


def template(helm: Path, *args: str, chart: Path = CHART) -> Release:
    done = run_helm(helm, "template", RELEASE, str(chart), "--namespace", NAMESPACE, *args)
    assert done.returncode == 0, done.stderr
    return Release([o for o in yaml.safe_load_all(done.stdout) if o])


def notes(helm: Path, workdir: Path, *args: str) -> str:
    """The chart's NOTES.txt as `helm install` would print it with `args`. helm template does not
    render NOTES.txt, so it is rendered inside a ConfigMap of a copy of the chart in `workdir`."""
    chart = workdir / "emporium"
    if not chart.exists():
        shutil.copytree(CHART, chart)
        shutil.copy(CHART / "templates" / "NOTES.txt", chart / "files" / "NOTES.txt")
        (chart / "templates" / "notes-probe.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
            'data: {notes: {{ tpl (.Files.Get "files/NOTES.txt") . | quote }}}\n'
        )
    notes: str = template(helm, *args, chart=chart).get("ConfigMap", "notes")["data"]["notes"]
    return notes


def template_error(helm: Path, *args: str) -> str:
    """The message of a render that must fail."""
    done = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    assert done.returncode != 0, "rendered, but should have failed"
    return done.stderr


def containers(pod: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    spec = pod["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]
