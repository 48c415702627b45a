"""The store released with its Helm chart onto a kind cluster: `helm test`, a shopper's journey
through a port-forward to the edge, a pod deleted and a worker scaled away mid-journey, and the
NetworkPolicies enforced."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
import uuid
from typing import Any

import pytest
import requests
from tests.e2e.conftest import (
    CHART,
    CLUSTER,
    NAMESPACE,
    ROOT,
    Cluster,
    KindStore,
    background,
    figure,
    port_forward,
    tool,
    wait_for_line,
)
from tests.e2e.journey import shopping_journey
from tests.integration.test_readme import readme_commands
from tests.unit.chart.conftest import EKS
from tests.unit.chart.conftest import NAMESPACE as EKS_NAMESPACE
from tests.unit.chart.conftest import RELEASE as EKS_RELEASE
from tests.waits import eventually

pytestmark = pytest.mark.e2e

STREAM = "emporium:orders:events"  # where orders publishes and fulfillment's group reads


def test_helm_test_passes(cluster: Cluster, release: str) -> None:
    started = time.monotonic()
    cluster.helm("test", release, "--namespace", NAMESPACE, "--timeout", "5m")
    figure("helm test", time.monotonic() - started)


def test_the_shopping_journey(store: KindStore) -> None:
    """Browse, cart, checkout to SHIPPED, sign in and see the order, a declined card, an
    idempotent replay: through a port-forward to the edge, as the release's notes say."""
    shopping_journey(store, "helm install")


PORT_FORWARD_AND_LOGS = readme_commands("Debug with port-forward and logs")


def readme_command(start: str) -> list[str]:
    """The README's command (Debug with port-forward and logs) that starts with `start`."""
    (command,) = [c for c in PORT_FORWARD_AND_LOGS if c.startswith(start)]
    return shlex.split(command, comments=True)


def test_port_forward_to_a_service_as_the_readme_says(
    cluster: Cluster, release: str, store: KindStore
) -> None:
    """`make port-forward SERVICE=catalog PORT=8081` (another free port here), straight to one
    service by its named port."""
    cluster.wait_deployments(NAMESPACE)
    command = readme_command("make port-forward SERVICE=catalog ")
    with port_forward(cluster, "catalog", command) as url:
        answer = requests.get(url + "/api/catalog/products/cast-iron-skillet", timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == "cast-iron-skillet"


def test_make_logs_follows_every_pod_of_a_service(cluster: Cluster, release: str) -> None:
    """`make logs SERVICE=catalog` (the README's `make logs SERVICE=orders`, for catalog):
    followed, each line prefixed with its pod, one JSON object a line; a request made while it
    runs shows up in it with its request id."""
    command = readme_command("make logs SERVICE=")
    command = ["SERVICE=catalog" if arg.startswith("SERVICE=") else arg for arg in command]
    cluster.wait_deployments(NAMESPACE)
    pods = {p.metadata.name for p in pods_of(cluster, release, "catalog")}
    prefixed = re.compile(r"\[pod/(?P<pod>[^/\]]+)/(?P<container>[^\]]+)\] (?P<line>\{.*\})$")
    seen: list[str] = []

    def entry(line: str) -> dict[str, Any]:
        """The JSON object of a line prefixed with a catalog pod, else {}."""
        found = prefixed.match(line.rstrip("\n"))
        if not found or found["pod"] not in pods:
            return {}
        try:
            parsed: dict[str, Any] = json.loads(found["line"])
        except json.JSONDecodeError:
            return {}
        return parsed

    with background(cluster, command) as (_, lines), port_forward(cluster, "catalog") as url:
        first = wait_for_line(lines, lambda line: bool(entry(line)), seen, 60, "make logs")
        assert entry(first)["service"] == "catalog"
        request_id = f"e2e-logs-{uuid.uuid4()}"
        answer = requests.get(
            f"{url}/api/catalog/products/cast-iron-skillet",
            headers={"X-Request-ID": request_id},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        mine = wait_for_line(
            lines,
            lambda line: entry(line).get("requestId") == request_id,
            seen,
            60,
            f"make logs: the access line of request {request_id}",
        )
    assert entry(mine)["path"] == "/api/catalog/products/cast-iron-skillet"


def pods_of(cluster: Cluster, release: str, component: str) -> list[Any]:
    selector = f"app.kubernetes.io/instance={release},app.kubernetes.io/component={component}"
    return list(cluster.core.list_namespaced_pod(NAMESPACE, label_selector=selector).items)


def test_a_catalog_pod_deleted_mid_journey_is_replaced_and_the_journey_completes(
    cluster: Cluster, release: str, store: KindStore
) -> None:
    cart_id = store.cart_with(("cast-iron-skillet", 1))
    (old,) = pods_of(cluster, release, "catalog")
    cluster.core.delete_namespaced_pod(old.metadata.name, NAMESPACE)

    def replaced() -> bool:
        ready = [
            p
            for p in pods_of(cluster, release, "catalog")
            if p.metadata.name != old.metadata.name
            and p.metadata.deletion_timestamp is None
            and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        ]
        return bool(ready)

    eventually(replaced, "the deleted catalog pod replaced by its Deployment", 180, interval=0.5)
    cluster.wait_deployments(NAMESPACE)

    def added() -> requests.Response | None:  # a 503 while the old pod drains: try again
        answer = store.call(
            "PUT", f"/api/cart/carts/{cart_id}/items/bamboo-bath-mat", json={"quantity": 1}
        )
        return answer if answer.status_code == 200 else None

    eventually(
        added, "adding to the cart recovered after the catalog pod was replaced", interval=0.5
    )
    placed = store.checkout(cart_id)
    assert placed.status_code == 201, placed.text
    assert store.wait_final(placed.json()["id"], timeout=60)["status"] == "SHIPPED"


def test_orders_queued_while_fulfillment_is_scaled_to_zero_complete_when_it_is_back(
    cluster: Cluster, release: str, store: KindStore
) -> None:
    name = f"{release}-fulfillment"
    cluster.apps.patch_namespaced_deployment_scale(name, NAMESPACE, {"spec": {"replicas": 0}})
    try:
        eventually(
            lambda: not pods_of(cluster, release, "fulfillment"),
            "fulfillment's pod gone",
            120,
            interval=0.5,
        )
        orders = []
        for _ in range(3):
            placed = store.checkout(store.cart_with(("linen-tea-towels", 1)))
            assert placed.status_code == 201, placed.text
            orders.append(placed.json()["id"])
        # Nobody consumes the events: they wait in the stream, past what the group was given.
        eventually(
            lambda: all(order in undelivered_events(cluster, release) for order in orders),
            "the orders' events waiting in the stream",
            interval=0.5,
        )
        statuses = {store.call("GET", f"/api/orders/orders/{o}").json()["status"] for o in orders}
        assert statuses == {"PLACED"}
    finally:
        cluster.apps.patch_namespaced_deployment_scale(name, NAMESPACE, {"spec": {"replicas": 1}})
    cluster.wait_deployments(NAMESPACE)
    finals = [store.wait_final(order_id, timeout=120) for order_id in orders]
    assert [order["status"] for order in finals] == ["SHIPPED"] * 3


def undelivered_events(cluster: Cluster, release: str) -> str:
    """The orders stream's entries not yet delivered to fulfillment's consumer group, as
    redis-cli prints them (ids, then each entry's event JSON, one value a line)."""

    def redis_cli(*args: str) -> list[str]:
        exec_in_redis = ("--namespace", NAMESPACE, "exec", f"deployment/{release}-redis", "--")
        return cluster.kubectl(*exec_in_redis, "redis-cli", *args).splitlines()

    groups = redis_cli("XINFO", "GROUPS", STREAM)
    group = groups[groups.index("name") + 1 :]  # one group: fulfillment's
    delivered = group[group.index("last-delivered-id") + 1]
    return "\n".join(redis_cli("XRANGE", STREAM, f"({delivered}", "+"))


CONNECT = (
    "import socket, sys\n"
    "try:\n"
    "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()\n"
    "except OSError as error:\n"
    "    print(f'refused or dropped: {error!r}')\n"
    "    sys.exit(3)\n"
    "print('connected')\n"
)


def connects(cluster: Cluster, release: str, source: str, target: str) -> bool:
    """Whether a pod of `source` opens a TCP connection to the Service of `target`."""
    done = subprocess.run(
        [
            tool("kubectl"),
            "--kubeconfig",
            cluster.kubeconfig,
            "--namespace",
            NAMESPACE,
            "exec",
            f"deployment/{release}-{source}",
            "--",
            "python",
            "-c",
            CONNECT,
            f"{release}-{target}",
            "8080",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 3), done.stdout + done.stderr
    return done.returncode == 0


def nftables_queue_works(node: str) -> bool:
    """Whether the node's kernel has nftables' `queue` statement (nft_queue), by which
    kube-network-policies (the engine kindnetd embeds) hands each new connection to its nfqueue
    for a verdict. Tried in a table of its own, removed after."""
    probe = (
        "nft add table inet emporium-probe"
        " && nft add chain inet emporium-probe c '{ type filter hook forward priority 0; }'"
        " && nft add rule inet emporium-probe c queue num 98 bypass; ok=$?;"
        " nft delete table inet emporium-probe 2>/dev/null; exit $ok"
    )
    done = subprocess.run(
        ["docker", "exec", node, "sh", "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0


def test_network_policies_let_callers_in_and_keep_others_out(
    cluster: Cluster, release: str, store: KindStore
) -> None:
    """cart calls catalog and orders calls cart (allowed by their policies); fulfillment never
    calls catalog and ui never calls orders (denied): the same probe from pods of the release."""
    assert connects(cluster, release, "cart", "catalog")
    assert connects(cluster, release, "orders", "cart")
    if not nftables_queue_works(f"{CLUSTER}-control-plane"):
        pytest.xfail(
            "this kernel has no nftables queue statement (nft_queue: `nft add rule ... queue` "
            "answers ENOENT; iptables' NFQUEUE target works): kube-network-policies cannot "
            "install its rules, so no NetworkPolicy is enforced on this machine"
        )
    assert not connects(cluster, release, "fulfillment", "catalog")
    assert not connects(cluster, release, "ui", "orders")


def test_the_eks_release_passes_a_server_side_dry_run(cluster: Cluster) -> None:
    """values-eks.yaml's whole release, checked by this API server (its admission, defaults and
    schemas) with the CRDs of the AWS controllers installed, changing nothing."""
    crds = ROOT.parent / "shared" / "crds"
    if not crds.is_dir():
        pytest.fail(f"the CRDs of the AWS controllers are not at {crds}")
    for folder in sorted(p for p in crds.iterdir() if p.is_dir()):
        cluster.kubectl("apply", "--server-side", "-f", str(folder))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    rendered = cluster.helm("template", EKS_RELEASE, str(CHART), "--namespace", EKS_NAMESPACE, *EKS)
    cluster.kubectl("create", "namespace", EKS_NAMESPACE)
    try:
        output = cluster.kubectl_with_input(
            rendered, "apply", "--dry-run=server", "--namespace", EKS_NAMESPACE, "-f", "-"
        )
    finally:
        cluster.kubectl("delete", "namespace", EKS_NAMESPACE, "--wait=false")
    assert "(server dry run)" in output
