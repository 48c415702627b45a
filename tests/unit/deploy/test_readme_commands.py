"""The README's deploy sections name only make targets that exist, each with the arguments it
asks for: `make -n` (what make would run, nothing run) accepts every one as written."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from tests.integration.test_readme import readme_commands
from tests.unit.chart.conftest import ROOT

SECTIONS = (
    "Deploy to AWS",
    "Develop on kind with skaffold",
    "Debug with port-forward and logs",
    "kind on this machine",
)


def make_commands() -> list[str]:
    return [c for s in SECTIONS for c in readme_commands(s) if c.startswith("make ")]


def test_the_sections_show_the_targets_of_the_deploy_paths() -> None:
    targets = {shlex.split(c, comments=True)[1] for c in make_commands()}
    assert {"cluster", "controllers", "identity", "push", "deploy", "cluster-delete", "dev"} <= (
        targets
    )
    assert {"teardown-aws", "port-forward", "logs"} <= targets
    assert {"kind-up", "kind-down", "e2e"} <= targets


@pytest.mark.parametrize("command", make_commands())
def test_make_accepts_the_command_as_written(command: str) -> None:
    argv = shlex.split(command, comments=True)
    done = subprocess.run(
        ["make", "-n", *argv[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
