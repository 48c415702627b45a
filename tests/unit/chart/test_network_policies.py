"""Who may reach whom, read from the rendered NetworkPolicies as a CNI would apply them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.chart.conftest import SETUPS, Release, name, template

SERVICES = ("catalog", "cart", "orders", "fulfillment", "ui", "edge")
# (caller, callee) pairs on the http port: the edge to the public services, and the calls
# between services. Everything else is refused.
ALLOWED = {
    ("edge", "catalog"),
    ("edge", "cart"),
    ("edge", "orders"),
    ("edge", "ui"),
    ("cart", "catalog"),
    ("orders", "catalog"),
    ("orders", "cart"),
    ("fulfillment", "orders"),
}


def labels(release: Release, component: str) -> dict[str, str]:
    for _, pod in release.workloads():
        found: dict[str, str] = pod["metadata"]["labels"]
        if found["app.kubernetes.io/component"] == component:
            return found
    raise AssertionError(f"no pod of {component}")


def matches(selector: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    return bool(selector.get("matchLabels", {}).items() <= pod_labels.items())


def allowed(
    release: Release,
    target: str,
    port: str,
    *,
    pod: dict[str, str] | None = None,
    namespace: str | None = None,
) -> bool:
    """Whether a pod with labels `pod` (in the release's namespace), or any pod of `namespace`,
    may open `port` of `target`'s pods."""
    target_labels = labels(release, target)
    policies = [
        p
        for p in release.of_kind("NetworkPolicy")
        if matches(p["spec"]["podSelector"], target_labels)
    ]
    assert policies, f"no policy selects {target}: everything would be allowed"
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            if port not in {p["port"] for p in rule.get("ports", [])}:
                continue
            for peer in rule.get("from", []):
                if namespace is not None and "namespaceSelector" in peer:
                    wanted = peer["namespaceSelector"]["matchLabels"]
                    if wanted == {"kubernetes.io/metadata.name": namespace}:
                        return True
                own_namespace = set(peer) == {"podSelector"}
                if pod is not None and own_namespace and matches(peer["podSelector"], pod):
                    return True
    return False


@pytest.fixture(scope="module")
def release(helm: Path) -> Release:
    return template(
        helm,
        *SETUPS["kind"],
        "--set=networkPolicy.ingressControllerNamespace=ingress-nginx",
        "--set=networkPolicy.metricsNamespace=monitoring",
    )


@pytest.mark.parametrize("callee", SERVICES)
@pytest.mark.parametrize("caller", SERVICES)
def test_only_the_real_callers_reach_a_service(release: Release, caller: str, callee: str) -> None:
    if caller == callee:
        return
    pod = labels(release, caller)
    assert allowed(release, callee, "http", pod=pod) == ((caller, callee) in ALLOWED)


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_only_from_the_scrapers_namespace(release: Release, service: str) -> None:
    assert allowed(release, service, "metrics", namespace="monitoring")
    assert not allowed(release, service, "metrics", namespace="ingress-nginx")
    assert not allowed(release, service, "metrics", pod=labels(release, "edge"))


@pytest.mark.parametrize("service", SERVICES)
def test_the_ingress_controller_reaches_the_entry_points_only(
    release: Release, service: str
) -> None:
    public = service in ("catalog", "cart", "orders", "ui", "edge")
    assert allowed(release, service, "http", namespace="ingress-nginx") == public


def test_the_stand_ins_are_reached_by_their_users_only(release: Release) -> None:
    redis_users = {
        s for s in SERVICES if allowed(release, "redis", "redis", pod=labels(release, s))
    }
    dynamodb_users = {
        s for s in SERVICES if allowed(release, "dynamodb", "http", pod=labels(release, s))
    }
    assert redis_users == {"catalog", "orders", "fulfillment"}
    assert dynamodb_users == {"catalog", "cart", "orders", "fulfillment"}
    seed = labels(release, "seed")
    assert allowed(release, "redis", "redis", pod=seed)
    assert allowed(release, "dynamodb", "http", pod=seed)


def test_only_orders_fetches_the_development_issuers_keys(release: Release) -> None:
    callers = {
        s for s in SERVICES if allowed(release, "oidc-issuer", "http", pod=labels(release, s))
    }
    assert callers == {"orders"}
    assert not allowed(release, "oidc-issuer", "http", namespace="ingress-nginx")


def test_the_helm_test_pods_reach_every_service(release: Release) -> None:
    test_pod = labels(release, "test")
    for service in SERVICES:
        assert allowed(release, service, "http", pod=test_pod), service


def test_everything_of_the_release_is_denied_by_default(release: Release) -> None:
    deny = release.get("NetworkPolicy", name("default-deny"))
    assert deny["spec"]["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny["spec"]
    for workload, pod in release.workloads():
        assert matches(deny["spec"]["podSelector"], pod["metadata"]["labels"]), workload
