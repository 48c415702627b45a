"""What a cluster's tools read off the release: the app.kubernetes.io/* labels on every object,
selectors of name, instance and component only, the pods spread over zones and nodes, and the
metrics port found by Prometheus (scrape annotations, or the optional ServiceMonitor)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.chart.conftest import CHART, NAMESPACE, RELEASE, SETUPS, Release, name, template

SERVICES = ("catalog", "cart", "orders", "fulfillment", "ui", "edge")
STAND_INS = ("redis", "dynamodb", "oidc-issuer")
CHART_YAML = yaml.safe_load((CHART / "Chart.yaml").read_text())
SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
# Labels that change with an upgrade: a selector with one of them would break the next upgrade
# (selectors are immutable) or stop matching the pods it protects.
MOVING_KEYS = {"app.kubernetes.io/version", "helm.sh/chart"}
MONITORING = "kind-autoscaled-with-ingress-and-monitoring"


@pytest.fixture(scope="module", params=sorted(SETUPS))
def release(request: pytest.FixtureRequest, helm: Path) -> Release:
    return template(helm, *SETUPS[request.param])


def services(release: Release) -> list[str]:
    """The store's services that this release runs (the edge is off on EKS)."""
    running = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]
        for d in release.of_kind("Deployment")
    }
    assert {"catalog", "cart", "orders", "fulfillment", "ui"} <= running
    return [service for service in SERVICES if service in running]


def where(o: Mapping[str, Any]) -> str:
    return f"{o['kind']}/{o['metadata']['name']}"


def test_every_object_and_pod_carries_the_standard_labels(release: Release) -> None:
    templates = [(workload, pod["metadata"]) for workload, pod in release.workloads()]
    for o, metadata in [(o, o["metadata"]) for o in release.objects] + templates:
        labels = metadata.get("labels", {})
        assert labels.get("app.kubernetes.io/name") == CHART_YAML["name"], where(o)
        assert labels.get("app.kubernetes.io/instance") == RELEASE, where(o)
        assert labels.get("app.kubernetes.io/component"), where(o)
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", where(o)
        assert labels.get("app.kubernetes.io/version") == CHART_YAML["appVersion"], where(o)
        assert labels.get("app.kubernetes.io/part-of") == "emporium", where(o)
        chart = f"{CHART_YAML['name']}-{CHART_YAML['version']}"
        assert labels.get("helm.sh/chart") == chart, where(o)


def test_each_service_is_a_component_of_its_own(release: Release) -> None:
    for service in services(release):
        for kind in ("Deployment", "Service", "ServiceAccount", "ConfigMap"):
            o = release.get(kind, name_in(release, service))
            assert o["metadata"]["labels"]["app.kubernetes.io/component"] == service, where(o)


def name_in(release: Release, component: str) -> str:
    """The component's object name, also where fullnameOverride changes the prefix."""
    names = {
        d["metadata"]["name"]
        for d in release.of_kind("Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    }
    assert len(names) == 1, f"{component}: {names}"
    return names.pop()


def test_services_and_budgets_select_by_name_instance_and_component_only(
    release: Release,
) -> None:
    for o in release.of_kind("Service"):
        assert set(o["spec"]["selector"]) == SELECTOR_KEYS, where(o)
    for o in release.of_kind("PodDisruptionBudget"):
        selector = o["spec"]["selector"]
        assert set(selector) == {"matchLabels"}, where(o)
        assert set(selector["matchLabels"]) == SELECTOR_KEYS, where(o)
        # The budget protects the pods of the Deployment of the same name, and only those.
        deployment = release.get("Deployment", o["metadata"]["name"])
        assert selector["matchLabels"] == deployment["spec"]["selector"]["matchLabels"], where(o)


def test_autoscalers_scale_a_deployment_that_selects_by_the_three_labels(
    release: Release,
) -> None:
    for o in release.of_kind("HorizontalPodAutoscaler"):
        target = o["spec"]["scaleTargetRef"]
        assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment"), where(o)
        deployment = release.get("Deployment", target["name"])
        assert set(deployment["spec"]["selector"]["matchLabels"]) == SELECTOR_KEYS, where(o)


def test_network_policies_select_by_name_instance_and_component_only(release: Release) -> None:
    for o in release.of_kind("NetworkPolicy"):
        selectors = [o["spec"]["podSelector"]]
        rules = [rule.get("from", []) for rule in o["spec"].get("ingress", [])]
        rules += [rule.get("to", []) for rule in o["spec"].get("egress", [])]
        for peers in rules:
            # The release's own pods; not another namespace's, such as the cluster's DNS.
            selectors += [p["podSelector"] for p in peers if set(p) == {"podSelector"}]
        for selector in selectors:
            keys = set(selector.get("matchLabels", {}))
            assert "matchExpressions" not in selector, where(o)
            # The release-wide default deny selects by name and instance; all others add component.
            assert {"app.kubernetes.io/name", "app.kubernetes.io/instance"} <= keys, where(o)
            assert keys <= SELECTOR_KEYS, f"{where(o)}: {sorted(keys - SELECTOR_KEYS)}"


def test_every_service_spreads_its_pods_over_zones_and_nodes(release: Release) -> None:
    for service in services(release):
        deployment = release.get("Deployment", name_in(release, service))
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        by_key = {constraint["topologyKey"]: constraint for constraint in spread}
        assert set(by_key) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, service
        for constraint in spread:
            assert constraint["maxSkew"] == 1, service
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway", service
            # The Deployment's own pods, and of its current ReplicaSet only during a rollout.
            selector = deployment["spec"]["selector"]["matchLabels"]
            assert constraint["labelSelector"] == {"matchLabels": selector}, service
            assert constraint["matchLabelKeys"] == ["pod-template-hash"], service


def test_topology_spread_follows_its_values(helm: Path) -> None:
    rendered = template(
        helm,
        *SETUPS["kind"],
        "--set=catalog.topologySpread.enabled=false",
        "--set=cart.topologySpread.whenUnsatisfiable=DoNotSchedule,cart.topologySpread.maxSkew=2",
        "--set=orders.topologySpread.topologyKeys={kubernetes.io/hostname}",
    )

    def spread(service: str) -> list[dict[str, Any]]:
        pod = rendered.get("Deployment", name(service))["spec"]["template"]["spec"]
        constraints: list[dict[str, Any]] = pod.get("topologySpreadConstraints", [])
        return constraints

    assert spread("catalog") == []
    assert {(c["maxSkew"], c["whenUnsatisfiable"]) for c in spread("cart")} == {
        (2, "DoNotSchedule")
    }
    assert [c["topologyKey"] for c in spread("orders")] == ["kubernetes.io/hostname"]


def test_every_service_pod_is_annotated_for_prometheus_on_its_metrics_port(
    release: Release,
) -> None:
    for service in services(release):
        deployment = release.get("Deployment", name_in(release, service))
        pod = deployment["spec"]["template"]
        annotations = pod["metadata"]["annotations"]
        ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
        assert annotations["prometheus.io/scrape"] == "true", service
        assert annotations["prometheus.io/port"] == str(ports["metrics"]), service
        assert annotations["prometheus.io/path"] == "/metrics", service


def test_scrape_annotations_can_be_turned_off(helm: Path) -> None:
    rendered = template(helm, *SETUPS["kind"], "--set=metrics.podAnnotations=false")
    for service in SERVICES:
        pod = rendered.get("Deployment", name(service))["spec"]["template"]
        assert not any(key.startswith("prometheus.io/") for key in pod["metadata"]["annotations"])


def matches(expressions: list[dict[str, Any]], labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy a label selector's matchExpressions, as Kubernetes reads them."""
    for expression in expressions:
        key, operator = expression["key"], expression["operator"]
        if operator == "In" and labels.get(key) not in expression["values"]:
            return False
        if operator == "NotIn" and labels.get(key) in expression["values"]:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def test_the_service_monitor_scrapes_the_metrics_port_of_every_service(helm: Path) -> None:
    rendered = template(helm, *SETUPS[MONITORING])
    (monitor,) = rendered.of_kind("ServiceMonitor")
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert set(spec["selector"]) == {"matchExpressions"}
    selected = {
        s["metadata"]["labels"]["app.kubernetes.io/component"]: s
        for s in rendered.of_kind("Service")
        if matches(spec["selector"]["matchExpressions"], s["metadata"]["labels"])
    }
    # The store's services, each with its metrics port; not the stand-ins, which have none.
    assert set(selected) == set(SERVICES)
    assert not set(selected) & set(STAND_INS)
    for service in selected.values():
        ports = {p["name"]: p for p in service["spec"]["ports"]}
        assert ports["metrics"]["targetPort"] == "metrics", where(service)
    assert [(e["port"], e["path"]) for e in spec["endpoints"]] == [("metrics", "/metrics")]
    # Selected by what its labels say, not by a moving label such as the version.
    keys = {e["key"] for e in spec["selector"]["matchExpressions"]}
    assert keys == SELECTOR_KEYS


def test_the_service_monitor_follows_the_release_and_its_values(helm: Path) -> None:
    rendered = template(
        helm,
        *SETUPS[MONITORING],
        "--set=edge.enabled=false",
        "--set=metrics.serviceMonitor.interval=15s,metrics.serviceMonitor.scrapeTimeout=5s",
        "--set=metrics.serviceMonitor.labels.release=kube-prometheus-stack",
    )
    (monitor,) = rendered.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["interval"] == "15s"
    assert monitor["spec"]["endpoints"][0]["scrapeTimeout"] == "5s"
    selected = {
        s["metadata"]["labels"]["app.kubernetes.io/component"]
        for s in rendered.of_kind("Service")
        if matches(monitor["spec"]["selector"]["matchExpressions"], s["metadata"]["labels"])
    }
    assert selected == set(SERVICES) - {"edge"}
    assert not template(helm, *SETUPS["kind"]).of_kind("ServiceMonitor")  # off by default
