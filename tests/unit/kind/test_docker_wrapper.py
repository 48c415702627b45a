"""tests/kind/docker/docker, the `docker` kind runs where `--privileged` fails: what it hands the
real docker (a fake one after it on PATH, which prints its arguments) for the commands kind
sends."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
WRAPPER = ROOT / "tests" / "kind" / "docker"

# What --privileged becomes on `docker run`.
INSTEAD = [
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--security-opt",
    "systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
    "--device=/dev/kmsg",
]


@pytest.fixture
def fake_docker(tmp_path: Path) -> Path:
    """A folder with a `docker` that prints each argument on a line of its own."""
    folder = tmp_path / "bin"
    folder.mkdir()
    docker = folder / "docker"
    docker.write_text('#!/bin/sh\nfor arg in "$@"; do printf "%s\\n" "$arg"; done\n')
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    return folder


def wrapped(path: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WRAPPER / "docker"), *args],
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def passed_on(fake_docker: Path, *args: str) -> list[str]:
    """The arguments the real docker got, with the wrapper first on PATH, as kind has it."""
    done = wrapped(f"{WRAPPER}{os.pathsep}{fake_docker}{os.pathsep}/usr/bin:/bin", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_run_privileged_becomes_every_capability_but_sys_resource(fake_docker: Path) -> None:
    got = passed_on(
        fake_docker, "run", "--name", "n", "--privileged", "--label", "a=b", "kindest/node"
    )
    assert got == ["run", "--name", "n", *INSTEAD, "--label", "a=b", "kindest/node"]


def test_only_the_first_privileged_of_a_run_is_translated(fake_docker: Path) -> None:
    """kind puts its --privileged before the image; what follows the image is the command's."""
    got = passed_on(fake_docker, "run", "--privileged", "node", "sh", "-c", "--privileged")
    assert got == ["run", *INSTEAD, "node", "sh", "-c", "--privileged"]


def test_exec_privileged_loses_the_flag(fake_docker: Path) -> None:
    got = passed_on(fake_docker, "exec", "--privileged", "-i", "node", "kubeadm", "init")
    assert got == ["exec", "-i", "node", "kubeadm", "init"]


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--rm", "node", "true"),
        ("ps", "--privileged"),  # not run nor exec: passed on as it is
        ("inspect", "--format", "{{.State.Running}}", "node"),
        (),
    ],
)
def test_other_commands_pass_unchanged(fake_docker: Path, args: tuple[str, ...]) -> None:
    assert passed_on(fake_docker, *args) == list(args)


def test_without_another_docker_on_path_it_says_so(tmp_path: Path) -> None:
    for tool in ("bash", "dirname"):  # what the wrapper runs, and no docker
        found = shutil.which(tool)
        assert found, tool
        (tmp_path / tool).symlink_to(found)
    done = wrapped(f"{WRAPPER}{os.pathsep}{tmp_path}", "ps")
    assert done.returncode == 127
    assert done.stderr.strip() == f"docker wrapper: no docker on PATH besides {WRAPPER}"
