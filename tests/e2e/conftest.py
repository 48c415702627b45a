"""The store on a real Kubernetes cluster: kind, from the node image built on this machine.

One session: `tests/kind/cluster up` (the node image, a new cluster, the store's images loaded),
`helm install --wait` with values-kind.yaml, then the tests, which talk to the cluster with the
Kubernetes client and to the store through `kubectl port-forward` to the edge. The cluster is
deleted at the end whatever happened, and the end checks that kind lists no such cluster and
Docker runs none of its nodes. When anything fails (a test, or a session fixture such as the
install), the events and every pod's logs of the store's namespace and of kube-system are printed
at once.

Every figure the run measures (the cluster's start, the install, the journey) is printed at the
end of the run.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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


# The cluster while the session has it: what a failure's report reads.
ACTIVE: list[Cluster] = []


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A new kind cluster with the store's images, deleted at the end of the session; the
    session fails if anything of it is left."""
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
                ACTIVE.append(Cluster(kubeconfig, env, api))
                yield ACTIVE[-1]
        finally:
            ACTIVE.clear()
            started = time.monotonic()
            subprocess.run([str(KIND / "cluster"), "down"], env=env, check=False, timeout=300)
            left = left_running(env)
            if left:
                pytest.fail(f"after tests/kind/cluster down: {left}", pytrace=False)
            figure("cluster deleted (kind delete cluster)", time.monotonic() - started)


def left_running(env: dict[str, str]) -> str:
    """What is left of the cluster CLUSTER: kind still lists it, or Docker still has a
    container of it (running or stopped, by the label kind gives its nodes). Empty if nothing."""
    clusters = run(str(KIND / "cluster"), "kind", "get", "clusters", env=env, timeout=120)
    containers = run(
        "docker", "ps", "--all", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}",
        "--format", "{{.Names}} ({{.Status}})", timeout=60,
    ).split("\n")  # fmt: skip
    left = []
    if CLUSTER in clusters.split():
        left.append(f"kind get clusters still lists {CLUSTER}")
    if any(containers):
        left.append(f"Docker still has its containers: {', '.join(c for c in containers if c)}")
    return "; ".join(left)


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
        timeout=900,  # helm's own timeout first: it names what is not ready
    )
    figure("helm install --wait (every pod ready)", time.monotonic() - started)
    return RELEASE


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_port_forward(service: str, port: int) -> list[str]:
    """The README's command (Debug with port-forward and logs) for `service` on `port`."""
    return ["make", "port-forward", f"SERVICE={service}", f"PORT={port}"]


@contextlib.contextmanager
def port_forward(cluster: Cluster, service: str, command: list[str] | None = None) -> Iterator[str]:
    """`make port-forward SERVICE=<service> PORT=<a free port>`, or `command` with its PORT=
    made a free port, with the cluster's kubeconfig and kubectl; yields the local URL once it
    answers /healthz."""
    port = free_port()
    if command is None:
        command = make_port_forward(service, port)
    command = [f"PORT={port}" if arg.startswith("PORT=") else arg for arg in command]
    with background(cluster, command) as (process, lines):
        url = f"http://127.0.0.1:{port}"
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while True:
            seen += drain(lines)
            assert process.poll() is None, f"{' '.join(command)} ended:\n{''.join(seen)}"
            try:
                requests.get(url + "/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (
                    f"{' '.join(command)} never answered on {url}:\n{''.join(seen)}"
                )
                time.sleep(0.2)
        yield url


@contextlib.contextmanager
def background(
    cluster: Cluster, command: list[str]
) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str | None]]]:
    """`command` (a make target, run from the repository) against the cluster: its kubeconfig
    and the kubectl built with its node image. Yields the process and its output's lines;
    stopped at the end with the whole process group (make, its shell, kubectl), as Ctrl-C does."""
    outer_make = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")  # make e2e's own: not the command's
    env = {k: v for k, v in cluster.env.items() if k not in outer_make}
    env["KUBECTL"] = tool("kubectl")
    with subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            yield process, lines_of(process)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                raise


def lines_of(process: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The process's output, line by line, read on a thread of its own; None once it ends."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def drain(lines: queue.Queue[str | None]) -> list[str]:
    """The lines read so far."""
    got = []
    with contextlib.suppress(queue.Empty):
        while (line := lines.get_nowait()) is not None:
            got.append(line)
    return got


def wait_for_line(
    lines: queue.Queue[str | None],
    wanted: Callable[[str], bool],
    seen: list[str],
    timeout: float,
    what: str,
) -> str:
    """The first line for which `wanted` is true; fails naming `what` after `timeout`, or when
    the output ends, with the last lines seen."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"{what}: not printed in {timeout} s:\n{''.join(seen[-60:])}")
        if line is None:
            pytest.fail(f"{what}: the output ended first:\n{''.join(seen[-80:])}")
        seen.append(line)
        if wanted(line):
            return line


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
        port_forward(cluster, "edge") as url,
        port_forward(cluster, "oidc-issuer") as issuer_url,
        requests.Session() as http,
    ):
        yield KindStore(url, http, issuer_url)


# Failures reported already: a session fixture's error is raised again for every test that
# asks for the fixture, and its report is printed once.
REPORTED: list[BaseException] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On any failure while the cluster is up (a test, its setup, such as helm install --wait or
    the Deployments' wait, or a teardown): the events and every pod's logs of the store's
    namespace and of kube-system, printed at once (not at the end, which a run killed for
    its time would never reach)."""
    report = yield
    error = call.excinfo.value if call.excinfo else None
    if not report.failed or not ACTIVE or any(error is seen for seen in REPORTED):
        return report
    if error is not None:
        REPORTED.append(error)
    try:
        text = "\n".join(ACTIVE[-1].report(namespace) for namespace in (NAMESPACE, "kube-system"))
    except Exception as failure:  # the report must not hide the failure it reports
        text = f"(the cluster could not be read: {failure!r})"
    print(
        f"\ne2e: {item.nodeid} failed in {report.when}: the cluster's events and logs\n{text}",
        file=sys.stderr,
    )
    return report
