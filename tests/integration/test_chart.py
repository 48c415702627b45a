"""The chart's `helm test` script, run against the store as `make run` starts it: what the
test pods do in a cluster, proved here on real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.conftest import Store

from devstack.stack import SERVICES

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "charts" / "emporium" / "files" / "helm_test.py"


def helm_test(*args: str) -> subprocess.CompletedProcess[str]:
    # As the pod runs it: the file's text through `python -c`.
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_service_is_ready(store: Store) -> None:
    done = helm_test("ready", *(store.ports.url(service.name) for service in SERVICES))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ready: ") == len(SERVICES)


def test_fulfillment_is_ready_on_its_metrics_port(store: Store) -> None:
    # In the cluster its Service has only that port: the test pod asks it there.
    metrics = store.ports.metrics_url("fulfillment").removesuffix("/metrics")
    done = helm_test("ready", metrics)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"ready: {metrics}\n"


def test_the_journey_through_the_edge_ends_with_an_order_shipped(store: Store) -> None:
    done = helm_test("journey", store.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].endswith("SHIPPED")


def test_a_journey_that_does_not_reach_the_store_fails_and_says_why(store: Store) -> None:
    done = helm_test("journey", store.ports.url("catalog"))  # no ui there
    assert done.returncode == 1
    assert "expected the ui" in done.stderr
