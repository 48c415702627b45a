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
    for service in SERVICES:
        # fulfillment answers /readyz on its metrics port, its Service's only port.
        port = "metrics" if service == "fulfillment" else "http"
        assert connects(release, "test", service, port), service
    assert not connects(release, "test", "fulfillment", "http")
    assert not connects(release, "test", "catalog", "metrics")  # no more than it asks


def test_everything_of_the_release_is_denied_by_default(release: Release) -> None:
    deny = release.get("NetworkPolicy", name("default-deny"))
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    for workload, pod in release.workloads():
        assert matches(deny["spec"]["podSelector"], pod["metadata"]["labels"]), workload


# Egress: a connection needs the caller's egress and the callee's ingress to allow it.

DNS = {"k8s-app": "kube-dns"}


def sends(release: Release, source: str, port: str | int, *, to: dict[str, str]) -> list[Any]:
    """The peers of `source`'s egress rules that let it open `port` of a pod labelled `to` in
    its own namespace (or of kube-system's DNS); [] when none does."""
    source_labels = labels(release, source)
    policies = [
        p
        for p in release.of_kind("NetworkPolicy")
        if matches(p["spec"]["podSelector"], source_labels) and "Egress" in p["spec"]["policyTypes"]
    ]
    assert policies, f"no egress policy selects {source}: everything would be allowed"
    found = []
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            if port not in {p["port"] for p in rule.get("ports", [])}:
                continue
            for peer in rule.get("to", []):
                if "podSelector" in peer and matches(peer["podSelector"], to):
                    found.append(peer)
    return found


def connects(release: Release, source: str, target: str, port: str) -> bool:
    return bool(sends(release, source, port, to=labels(release, target))) and allowed(
        release, target, port, pod=labels(release, source)
    )


@pytest.mark.parametrize("caller", SERVICES)
def test_each_service_connects_only_to_what_it_calls(release: Release, caller: str) -> None:
    reached = {(caller, s) for s in SERVICES if connects(release, caller, s, "http")}
    assert reached == {(a, b) for a, b in ALLOWED if a == caller}
    stores = {
        store
        for store, port in (("redis", "redis"), ("dynamodb", "http"), ("oidc-issuer", "http"))
        if connects(release, caller, store, port)
    }
    uses = {
        "catalog": {"redis", "dynamodb"},
        "cart": {"dynamodb"},
        "orders": {"redis", "dynamodb", "oidc-issuer"},
        "fulfillment": {"redis", "dynamodb"},
    }
    assert stores == uses.get(caller, set())


def test_every_pod_resolves_names_and_nothing_else_leaves_the_release_on_kind(
    release: Release,
) -> None:
    for _, pod in release.workloads():
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        peers = sends(release, component, 53, to=DNS)
        assert peers, component
        assert all(
            p["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
            for p in peers
        )
        for policy in release.of_kind("NetworkPolicy"):
            for rule in policy["spec"].get("egress", []):
                assert all("ipBlock" not in peer for peer in rule["to"]), policy["metadata"]["name"]


def test_on_eks_the_stores_are_reached_beyond_the_release(helm: Path) -> None:
    eks = template(helm, *SETUPS["eks"], "--set=redis.url=rediss://primary.example.com:6380/0")
    https = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}

    def beyond(component: str, port: int) -> list[Any]:
        policy = eks.get("NetworkPolicy", name(f"{component}-egress"))
        return [
            peer
            for rule in policy["spec"]["egress"]
            if port in {p["port"] for p in rule["ports"]}
            for peer in rule["to"]
            if "ipBlock" in peer
        ]

    for component in ("catalog", "cart", "orders", "fulfillment", "seed"):
        assert beyond(component, 443) == [https], component  # DynamoDB, STS (IRSA)
    for component in ("catalog", "orders", "fulfillment", "seed"):
        assert [p["ipBlock"]["cidr"] for p in beyond(component, 6380)] == [
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
        ], component
    for component in ("ui", "test"):
        assert beyond(component, 443) == [], component
        assert beyond(component, 6380) == [], component
