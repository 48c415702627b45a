"""The store on a real Kubernetes cluster: kind, from the node image built on this machine.

One session: `tests/kind/cluster up` (the node image, a new cluster, the store's images loaded),
`helm install --wait` with values-kind.yaml, then the tests, which talk to the cluster with the
Kubernetes client and to the store through `kubectl port-forward` to the edge. The cluster is
deleted at the end whatever happened. When a test fails, the namespace's events and every pod's
logs are printed.

Every figure the run measures (the cluster's start, the install, the journey) is printed at the
end of the run.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from tests.integration.conftest import StoreClient

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "emporium"
KIND = ROOT / "tests" / "kind"
CLUSTER = os.environ.get("KIND_CLUSTER_NAME", "emporium-e2e")
NAMESPACE = "emporium"
RELEASE = "emporium"
CACHE = Path(
    os.environ.get("EMPORIUM_CACHE_DIR")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emporium"
)

FIGURES: dict[str, str] = {}  # printed at the end of the run


def figure(name: str, seconds: float) -> None:
    FIGURES[name] = f"{seconds:.1f} s"
    print(f"e2e: {name}: {seconds:.1f} s", file=sys.stderr)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("e2e figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"{name}: {value}")


def kubernetes_version() -> str:
    """The release the node image is built from (tests/kind/kubernetes/go.mod requires it)."""
    found = re.search(
        r"^\s*k8s\.io/kubernetes (v[0-9.]+)", (KIND / "kubernetes" / "go.mod").read_text(), re.M
    )
    assert found, "tests/kind/kubernetes/go.mod requires no k8s.io/kubernetes"
    return found.group(1)


def tool(name: str) -> str:
    """helm from `make chart-tools`, the kubectl built with the node image, else from PATH."""
    built = {
        "helm": CACHE / "tools" / "helm-v3.22.0" / "helm",
        "kubectl": CACHE / "kind" / "bin" / f"kubernetes-{kubernetes_version()}" / "kubectl",
    }[name]
    if built.exists():
        return str(built)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not built ({built}) nor on PATH: make chart-tools, make kind-up")
    return found


def run(*command: str, timeout: float = 600, **kwargs: Any) -> str:
    """Runs a command, its output shown only if it fails (then the test fails, naming it)."""
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )
    return done.stdout


@dataclass
class Cluster:
    """A kind cluster and the client of its API server."""

    kubeconfig: str
    env: dict[str, str]
    api: client.ApiClient
    core: client.CoreV1Api = field(init=False)
    apps: client.AppsV1Api = field(init=False)

    def __post_init__(self) -> None:
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        return run(tool("kubectl"), "--kubeconfig", self.kubeconfig, *args, timeout=timeout)

    def kubectl_with_input(self, stdin: str, *args: str, timeout: float = 120) -> str:
        return run(
            tool("kubectl"), "--kubeconfig", self.kubeconfig, *args, timeout=timeout, input=stdin
        )

    def helm(self, *args: str, timeout: float = 600) -> str:
        return run(tool("helm"), "--kubeconfig", self.kubeconfig, *args, timeout=timeout)

    def wait_deployments(self, namespace: str, timeout: float = 300) -> None:
        """Every Deployment of the namespace has all its replicas updated and available."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = [
                d.metadata.name
                for d in self.apps.list_namespaced_deployment(namespace).items
                if (d.status.available_replicas or 0) < (d.spec.replicas or 0)
                or (d.status.updated_replicas or 0) < (d.spec.replicas or 0)
                or (d.status.replicas or 0) != (d.spec.replicas or 0)
            ]
            if not waiting:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"Deployments not available after {timeout} s: {waiting}")
            time.sleep(1)

    def report(self, namespace: str) -> str:
        """The namespace's events and every pod's logs (all containers, previous runs too)."""
        lines = [f"--- events in {namespace}"]
        events = self.core.list_namespaced_event(namespace).items
        events.sort(key=lambda e: e.last_timestamp or e.event_time or e.metadata.creation_timestamp)
        lines += [
            f"{e.last_timestamp or e.event_time} {e.type} {e.involved_object.kind}/"
            f"{e.involved_object.name} {e.reason}: {e.message}"
            for e in events
        ]
        for pod in self.core.list_namespaced_pod(namespace).items:
            containers = [c.name for c in (pod.spec.init_containers or []) + pod.spec.containers]
            for container in containers:
                for previous in (False, True):
                    try:
                        log = self.core.read_namespaced_pod_log(
                            pod.metadata.name,
                            namespace,
                            container=container,
                            previous=previous,
                            tail_lines=60,
                        )
                    except ApiException:
                        continue  # no previous run, or not started
                    which = "previous run of " if previous else ""
                    lines.append(f"--- logs of {which}{pod.metadata.name}/{container}")
                    lines.append(log)
        return "\n".join(lines)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A new kind cluster with the store's images, deleted at the end of the session."""
    with tempfile.TemporaryDirectory(prefix="emporium-e2e-") as home:
        kubeconfig = str(Path(home) / "kubeconfig")
        env = {**os.environ, "KUBECONFIG": kubeconfig, "KIND_CLUSTER_NAME": CLUSTER}
        try:
            started = time.monotonic()
            up = subprocess.run(
                [str(KIND / "cluster"), "up"], env=env, text=True, check=False, timeout=3600
            )
            if up.returncode != 0:
                pytest.fail(f"tests/kind/cluster up exited {up.returncode}", pytrace=False)
            figure(
                "cluster up (node image, kind create, images loaded)", time.monotonic() - started
            )
            api = config.new_client_from_config(config_file=kubeconfig)
            with api:
                yield Cluster(kubeconfig, env, api)
        finally:
            subprocess.run([str(KIND / "cluster"), "down"], env=env, check=False, timeout=300)


def random_secret() -> str:
    return secrets.token_hex(24)


@pytest.fixture(scope="session")
def release(cluster: Cluster) -> str:
    """The chart installed with values-kind.yaml (helm install --wait): Redis, the DynamoDB
    emulator and the development OpenID issuer from the release, secrets made up here."""
    started = time.monotonic()
    cluster.helm(
        "install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--values",
        str(CHART / "values-kind.yaml"),
        "--set-string",
        f"secrets.catalogAdminToken.value={random_secret()}",
        "--set-string",
        f"secrets.catalogHmacKey.value={random_secret()}",
        "--set-string",
        f"secrets.ordersInternalToken.value={random_secret()}",
        "--set-string",
        f"secrets.ordersHmacKey.value={random_secret()}",
        "--wait",
        "--timeout",
        "10m",
    )
    figure("helm install --wait (every pod ready)", time.monotonic() - started)
    return RELEASE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def port_forward(cluster: Cluster, target: str, remote: int) -> Iterator[str]:
    """`kubectl port-forward` to `target` (service/NAME, pod/NAME) as the README says; yields
    the local URL once it answers."""
    port = free_port()
    with subprocess.Popen(
        [
            tool("kubectl"),
            "--kubeconfig",
            cluster.kubeconfig,
            "--namespace",
            NAMESPACE,
            "port-forward",
            target,
            f"{port}:{remote}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as forward:
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                assert forward.poll() is None, forward.stdout.read() if forward.stdout else ""
                try:
                    requests.get(url + "/healthz", timeout=2)
                    break
                except requests.ConnectionError:
                    assert time.monotonic() < deadline, f"port-forward to {target} never answered"
                    time.sleep(0.2)
            yield url
        finally:
            forward.terminate()
            forward.wait(10)


@dataclass
class KindStore(StoreClient):
    """The shopper's client, through a port-forward to the edge; sign-in through another to
    the development OpenID issuer (as the chart's NOTES say)."""

    issuer_url: str = ""

    def id_token(self, email: str) -> str:
        answer = self.http.post(f"{self.issuer_url}/dev/token", json={"email": email}, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id_token"])


@pytest.fixture(scope="session")
def store(cluster: Cluster, release: str) -> Iterator[KindStore]:
    cluster.wait_deployments(NAMESPACE)
    with (
        port_forward(cluster, f"service/{release}-edge", 8080) as url,
        port_forward(cluster, f"service/{release}-oidc-issuer", 8086) as issuer_url,
        requests.Session() as http,
    ):
        yield KindStore(url, http, issuer_url)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def report_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """On a failure, the events and every pod's logs of the store's namespace."""
    yield
    if not request.node.stash.get(FAILED, False):
        return
    cluster: Cluster | None = None
    with contextlib.suppress(pytest.FixtureLookupError, pytest.fail.Exception):
        cluster = request.getfixturevalue("cluster")
    if cluster is not None:
        with contextlib.suppress(Exception):
            print(cluster.report(NAMESPACE), file=sys.stderr)
