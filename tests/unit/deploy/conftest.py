"""Fixtures of the deploy paths' unit tests: eksctl/cluster.yaml and the schemas beside the
project's checkout (../shared/schemas, or $EMPORIUM_SCHEMAS_DIR), and the chart rendered as
`make deploy` releases it (release and namespace of eksctl/deploy/config.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.chart.conftest import (
    BUILD_HELM,
    ROOT,
    Release,
    pinned,
    run_helm,
    tools_dir,
    unavailable,
)

from deploy.config import CHART, CLUSTER_FILE, NAMESPACE, RELEASE


def schemas_dir() -> Path:
    return Path(os.environ.get("EMPORIUM_SCHEMAS_DIR") or ROOT.parent / "shared" / "schemas")


def load_schema(relative: str) -> dict[str, Any]:
    path = schemas_dir() / relative
    if not path.is_file():
        unavailable(f"the schema {path} is not there (set EMPORIUM_SCHEMAS_DIR)")
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


@pytest.fixture(scope="session")
def helm() -> Path:
    """The Helm 3 the chart's tests use (charts/build-helm's, or $EMPORIUM_HELM)."""
    version = pinned(BUILD_HELM, "HELM_VERSION")
    path = Path(os.environ.get("EMPORIUM_HELM") or tools_dir() / f"helm-{version}" / "helm")
    if not os.access(path, os.X_OK):
        unavailable(f"helm is not at {path}: build it with charts/build-helm, or make chart-tools")
    return path


@pytest.fixture(scope="session")
def cluster_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(CLUSTER_FILE.read_text())
    return loaded


def render(helm: Path, *args: str) -> Release:
    """The store's release as `make deploy` makes it: values-eks.yaml and `args`."""
    done = run_helm(
        helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
        "-f", str(CHART / "values-eks.yaml"), *args,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Release([o for o in yaml.safe_load_all(done.stdout) if o])
