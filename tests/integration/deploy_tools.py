"""The deploy paths' Go tools for the tests: the eksctl and skaffold that eksctl/build-tool
builds into the cache (`make deploy-tools`), or $EMPORIUM_EKSCTL / $EMPORIUM_SKAFFOLD."""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.conftest import unavailable
from tests.unit.chart.conftest import ROOT, pinned, tools_dir

BUILD_TOOL = ROOT / "eksctl" / "build-tool"


def deploy_tool(name: str) -> Path:
    version = pinned(BUILD_TOOL, f"{name.upper()}_VERSION")
    path = Path(
        os.environ.get(f"EMPORIUM_{name.upper()}") or tools_dir() / f"{name}-{version}" / name
    )
    if not os.access(path, os.X_OK):
        unavailable(
            f"{name} is not at {path}: build it with eksctl/build-tool {name} (needs Go),"
            " or make deploy-tools"
        )
    return path
