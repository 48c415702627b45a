"""skaffold on the kind cluster, as `make dev` runs it: `skaffold run --profile kind` builds the
images of docker/, loads them with `kind load` and releases the same store, and the journey
passes again; then a short `skaffold dev` picks up a new file of the UI and serves it without a
rebuild (its file sync), and uninstalls the release when stopped.

It runs after test_store_on_kind.py (pytest takes the files in order) and replaces that release:
skaffold.yaml's release has the same name and namespace."""

from __future__ import annotations

import os
import queue
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tests.e2e.conftest import (
    KIND,
    NAMESPACE,
    ROOT,
    Cluster,
    KindStore,
    figure,
    port_forward,
    tool,
)
from tests.integration.deploy_tools import deploy_tool
from tests.integration.test_skaffold import DEFAULT_BASE, STAND_INS, image_here
from tests.waits import eventually

pytestmark = pytest.mark.e2e

PROBE_DIR = ROOT / "services" / "ui" / "static"


@pytest.fixture(scope="module")
def skaffold_env(cluster: Cluster) -> dict[str, str]:
    """The cluster's kubeconfig; helm, and kind (with this host's docker wrapper where needed,
    `tests/kind/cluster path`) first on PATH; the images' bases as `make images` takes them."""
    kind_path = subprocess.run(
        [str(KIND / "cluster"), "path"],
        env=cluster.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.strip()
    bases = {k: os.environ[k] for k in STAND_INS if os.environ.get(k)}
    if not bases and not image_here(DEFAULT_BASE):
        bases = STAND_INS
    return {
        **cluster.env,
        **bases,
        "PATH": f"{Path(tool('helm')).parent}{os.pathsep}{kind_path}",
        "SKAFFOLD_UPDATE_CHECK": "false",
        "SKAFFOLD_INTERACTIVE": "false",
    }


def skaffold(env: dict[str, str], *args: str, timeout: float) -> None:
    command = [str(deploy_tool("skaffold")), *args, "--profile", "kind"]
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-4000:]}{done.stderr}"


def journey(cluster: Cluster) -> None:
    """Browse, checkout to SHIPPED, and the order in the signed-in customer's list."""
    with (
        port_forward(cluster, "service/emporium-edge", 8080) as url,
        port_forward(cluster, "service/emporium-oidc-issuer", 8086) as issuer_url,
        requests.Session() as http,
    ):
        store = KindStore(url, http, issuer_url)
        placed = store.checkout(store.cart_with(("cast-iron-skillet", 1)), key=str(uuid.uuid4()))
        assert placed.status_code == 201, placed.text
        assert store.wait_final(placed.json()["id"], timeout=60)["status"] == "SHIPPED"
        token = store.id_token("ada@example.com")  # the buyer of tests/shoppers.py's checkout
        mine = store.call("GET", "/api/orders/orders", headers={"Authorization": f"Bearer {token}"})
        assert mine.status_code == 200, mine.text
        assert placed.json()["id"] in [o["id"] for o in mine.json()["items"]]


def test_skaffold_run_releases_the_same_store(
    cluster: Cluster, release: str, skaffold_env: dict[str, str]
) -> None:
    cluster.helm("uninstall", release, "--namespace", NAMESPACE, "--wait", "--timeout", "5m")
    started = time.monotonic()
    skaffold(skaffold_env, "run", "--status-check=true", timeout=1800)
    figure("skaffold run --profile kind (build, kind load, deploy)", time.monotonic() - started)
    cluster.wait_deployments(NAMESPACE)
    journey(cluster)


@pytest.fixture
def probe_file() -> Iterator[Path]:
    path = PROBE_DIR / f"e2e-sync-probe-{secrets.token_hex(4)}.txt"
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


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


def wait_for_line(
    lines: queue.Queue[str | None], text: str, seen: list[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"skaffold dev never printed {text!r}:\n{''.join(seen[-60:])}")
        if line is None:
            pytest.fail(f"skaffold dev ended before it printed {text!r}:\n{''.join(seen[-80:])}")
        seen.append(line)
        if text in line:
            return


def test_skaffold_dev_syncs_a_ui_file_into_the_running_pod(
    cluster: Cluster, skaffold_env: dict[str, str], probe_file: Path
) -> None:
    command = [
        str(deploy_tool("skaffold")), "dev", "--profile", "kind", "--port-forward=off",
        "--status-check=true", "--cleanup=true",
    ]  # fmt: skip
    seen: list[str] = []
    with subprocess.Popen(
        command,
        env=skaffold_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as dev:
        try:
            lines = lines_of(dev)
            wait_for_line(lines, "Watching for changes", seen, timeout=1200)
            content = f"synced by skaffold dev {uuid.uuid4()}\n"
            started = time.monotonic()
            probe_file.write_text(content)
            wait_for_line(lines, "Syncing 1 files", seen, timeout=120)
            with port_forward(cluster, "service/emporium-ui", 8080) as url:
                eventually(
                    lambda: (
                        requests.get(f"{url}/static/{probe_file.name}", timeout=5).text == content
                    ),
                    f"{probe_file.name} served by the ui (skaffold:\n{''.join(seen[-40:])})",
                    interval=0.5,
                )
            figure("skaffold dev: a UI file saved to served by the pod", time.monotonic() - started)
        finally:
            os.killpg(dev.pid, signal.SIGINT)  # Ctrl-C: skaffold uninstalls the release
            try:
                dev.wait(300)
            except subprocess.TimeoutExpired:
                os.killpg(dev.pid, signal.SIGKILL)
                raise
    releases = cluster.helm("list", "--namespace", NAMESPACE, "--short")
    assert "emporium" not in releases.split(), f"skaffold dev left the release: {releases}"
