"""skaffold on the kind cluster, as `make dev` runs it: `skaffold run --profile kind` builds the
images of docker/, loads them with `kind load` and releases the same store, and the whole
shopping journey passes again; then a short `skaffold dev` picks up a change to one of the UI's
own files and serves it without a rebuild (its file sync), and uninstalls the release when
stopped.

It runs after test_store_on_kind.py (pytest takes the files in order) and replaces that release:
skaffold.yaml's release has the same name and namespace."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
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
    lines_of,
    port_forward,
    tool,
    wait_for_line,
)
from tests.e2e.journey import shopping_journey
from tests.integration.deploy_tools import deploy_tool
from tests.integration.test_skaffold import DEFAULT_BASE, STAND_INS, image_here
from tests.waits import eventually

pytestmark = pytest.mark.e2e

UI_STATIC = ROOT / "services" / "ui" / "static"
UI_FILE = UI_STATIC / "css" / "app.css"


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
    """The journey of test_store_on_kind.py, through port-forwards to this release's edge and
    development issuer."""
    with (
        port_forward(cluster, "edge") as url,
        port_forward(cluster, "oidc-issuer") as issuer_url,
        requests.Session() as http,
    ):
        shopping_journey(KindStore(url, http, issuer_url), "skaffold run")


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
def changed_file() -> Iterator[Path]:
    """One of the UI's own files (its stylesheet), for the test to change; restored after."""
    before = UI_FILE.read_bytes()
    try:
        yield UI_FILE
    finally:
        UI_FILE.write_bytes(before)


def has(text: str) -> Callable[[str], bool]:
    return lambda line: text in line


def test_skaffold_dev_syncs_a_ui_file_into_the_running_pod(
    cluster: Cluster, skaffold_env: dict[str, str], changed_file: Path
) -> None:
    """The stylesheet saved with a line added while skaffold dev runs: the running ui pod
    serves the changed file, without a rebuild."""
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
            wait_for_line(lines, has("Watching for changes"), seen, 1200, "skaffold dev")
            content = changed_file.read_text() + f"/* changed by make e2e: {uuid.uuid4()} */\n"
            started = time.monotonic()
            changed_file.write_text(content)
            wait_for_line(lines, has("Syncing 1 files"), seen, 120, "skaffold dev")
            served = f"/static/{changed_file.relative_to(UI_STATIC).as_posix()}"
            with port_forward(cluster, "ui") as url:
                eventually(
                    lambda: requests.get(url + served, timeout=5).content == content.encode(),
                    f"the changed {served} served by the ui (skaffold:\n{''.join(seen[-40:])})",
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
