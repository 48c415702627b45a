"""skaffold itself (built by eksctl/build-tool) on skaffold.yaml: `diagnose`, `render` and
`build` against the local Docker engine, as the README shows them. No cluster is needed:
render runs offline, build loads nothing into kind."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.integration.conftest import unavailable
from tests.integration.deploy_tools import deploy_tool
from tests.integration.test_readme import readme_commands
from tests.unit.chart.conftest import BUILD_HELM, ROOT, pinned, tools_dir

from deploy import aws, identity, lookups, release
from deploy.config import load_cluster

pytestmark = pytest.mark.integration

DOCKER = "/usr/bin/docker" if os.access("/usr/bin/docker", os.X_OK) else "docker"
# The Dockerfiles' own default base; skaffold's diagnose reads it (see the diagnose test).
DEFAULT_BASE = "python:3.12-slim"
# skaffold.yaml's artifacts, the images of `make images`.
IMAGES = (
    "catalog",
    "cart",
    "orders",
    "fulfillment",
    "ui",
    "edge",
    "redis",
    "dynamodb",
    "dev-issuer",
    "load",
)
# The chart's component of an image, where it is named otherwise.
COMPONENT = {"dev-issuer": "oidc-issuer"}
# The images of Jobs that the release runs only when asked (load.enabled), not Deployments.
JOBS = {"load"}
STAND_INS = {
    "BASE_IMAGE": "emporium/python:3.11-bookworm",
    "BUILD_IMAGE": "emporium/python-build:3.11-bookworm",
    "DEBIAN_IMAGE": "emporium/debian:bookworm",
}


def image_here(image: str) -> bool:
    done = subprocess.run(
        [DOCKER, "image", "inspect", image], capture_output=True, check=False, timeout=30
    )
    return done.returncode == 0


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """skaffold with helm on PATH and the images' bases as `make images` takes them: the
    environment's BASE_IMAGE..., else the official bases if here, else the stand-ins of
    `make base-images` (as .ci/run chooses)."""
    helm = tools_dir() / f"helm-{pinned(BUILD_HELM, 'HELM_VERSION')}"
    found = {k: os.environ[k] for k in STAND_INS if os.environ.get(k)}
    if not found and not image_here(DEFAULT_BASE):
        found = STAND_INS
    for image in set(found.values()) or {DEFAULT_BASE}:
        if subprocess.run([DOCKER, "info"], capture_output=True, check=False).returncode != 0:
            unavailable("no Docker engine answers (start one: .ci/docker-up)")
        if not image_here(image):
            unavailable(f"the base image {image} is not here: make base-images")
    return {
        **os.environ,
        **found,
        "PATH": f"{helm}{os.pathsep}{os.environ['PATH']}",
        "SKAFFOLD_UPDATE_CHECK": "false",
    }


@pytest.fixture(scope="module")
def skaffold() -> Path:
    return deploy_tool("skaffold")


def run(skaffold: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(skaffold), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )


@pytest.mark.parametrize("profile", [None, "kind", "eks"])
def test_diagnose_reads_the_configuration(
    skaffold: Path, env: dict[str, str], profile: str | None
) -> None:
    done = run(skaffold, env, "diagnose", "--yaml-only", *(["-p", profile] if profile else []))
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    assert config["apiVersion"] == "skaffold/v4beta13"
    assert len(config["build"]["artifacts"]) == len(IMAGES)
    (release,) = config["deploy"]["helm"]["releases"]
    if profile:
        assert release["valuesFiles"][0] == str(ROOT / f"charts/emporium/values-{profile}.yaml")


def test_diagnose_of_the_artifacts(skaffold: Path, env: dict[str, str]) -> None:
    # (With no BASE_IMAGE given and the Dockerfiles' default base neither here nor pullable,
    # diagnose would print that it cannot look that base up and still exit 0: it sizes each
    # context without the build arguments, unless the tagger has listed them with them first.)
    done = run(skaffold, env, "diagnose", "-p", "kind")
    assert done.returncode == 0, done.stderr
    assert f"Number of artifacts: {len(IMAGES)}" in done.stdout
    assert done.stdout.count(" - Dependencies:") == len(IMAGES), done.stdout


def test_render_for_kind(skaffold: Path, env: dict[str, str]) -> None:
    done = run(skaffold, env, "render", "-p", "kind", "--offline=true", "--digest-source=tag")
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    component_images = {COMPONENT.get(image, image): image for image in IMAGES if image not in JOBS}
    assert set(deployments) == {f"emporium-{component}" for component in component_images}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        image = component_images[name.removeprefix("emporium-")]
        assert container["image"].startswith(f"emporium/{image}:")
        assert deployment["metadata"]["namespace"] == "emporium"
    configs = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    assert configs["emporium-ui"]["data"]["UI_STATIC_DIR"] == "/tmp/ui-static"  # noqa: S108


def test_the_api_version_is_the_newest_this_skaffold_knows(
    skaffold: Path, env: dict[str, str]
) -> None:
    # The schemas go further (v4beta14), but the pinned skaffold refuses what it does not know.
    known = run(skaffold, env, "schema", "list")
    assert known.returncode == 0, known.stderr
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    assert known.stdout.split()[-1] == config["apiVersion"] == "skaffold/v4beta13"


# A registry of ECR's form (the account and region are made up; nothing is pushed).
FAKE_ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


@pytest.fixture
def account_values() -> Iterator[Path]:
    """The values `make deploy` writes for an account, which the eks profile releases with:
    made up here when no `make deploy` has written them, and removed afterwards."""
    path = release.ACCOUNT_VALUES
    if path.exists():
        yield path
        return
    cluster = load_cluster()
    account = aws.Account("123456789012", "aws", cluster.region)
    target = release.Target(
        cluster,
        account,
        identity.Identity(cluster.region, f"{cluster.region}_AbCdEfGhI", "client-id", "emporium"),
        lookups.Network("vpc-0abc", "192.168.0.0/16", ["subnet-0a", "subnet-0b"], "sg-0abc"),
        "0a1b2c3",
    )
    listener = f"arn:aws:elasticloadbalancing:{cluster.region}:123456789012:listener/app/k8s/1/2"
    release.write_values(target.values("master.emporium-redis.cache.amazonaws.com:6379", listener))
    try:
        yield path
    finally:
        path.unlink()


def test_render_for_eks_names_the_images_in_ecr(
    skaffold: Path, env: dict[str, str], account_values: Path, tmp_path: Path
) -> None:
    # multi-level-repo on, as the README has it set (in a HOME of the test's own).
    (tmp_path / ".skaffold").mkdir()
    (tmp_path / ".skaffold" / "config").write_text("global:\n  multi-level-repo: true\n")
    done = run(
        skaffold, {**env, "HOME": str(tmp_path)}, "render", "-p", "eks", "--offline=true",
        "--digest-source=tag", "--default-repo", FAKE_ECR,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    objects = [o for o in yaml.safe_load_all(done.stdout) if o]
    deployments = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Deployment"}
    # On EKS: the services, without the edge and kind's stand-ins (redis, dynamodb, issuer).
    services = ("catalog", "cart", "orders", "fulfillment", "ui")
    assert set(deployments) == {f"emporium-{service}" for service in services}
    for service in services:
        (container,) = deployments[f"emporium-{service}"]["spec"]["template"]["spec"]["containers"]
        repository, _, tag = container["image"].rpartition(":")
        assert repository == f"{FAKE_ECR}/emporium/{service}"
        assert len(tag) == 64  # the inputs' digest, not make images' commit tag
    images = re.findall(r"^\s*image: \"?([^\s\"]+)", done.stdout, flags=re.MULTILINE)
    assert images
    assert all(image.startswith(f"{FAKE_ECR}/emporium/") for image in images), images


def test_build_with_the_local_docker_engine(
    skaffold: Path, env: dict[str, str], tmp_path: Path
) -> None:
    tag = f"skaffold-test-{uuid.uuid4().hex[:8]}"
    output = tmp_path / "builds.json"
    done = run(
        skaffold, env, "build", "-p", "kind", "--push=false", f"--tag={tag}",
        f"--file-output={output}",
    )  # fmt: skip
    try:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        builds: list[dict[str, Any]] = json.loads(output.read_text())["builds"]
        assert len(builds) == len(IMAGES)
        for build in builds:
            assert image_here(f"{build['imageName']}:{tag}"), build
        # The ui's image carries the bases it was built from.
        base = env.get("BASE_IMAGE", DEFAULT_BASE)
        label = subprocess.run(
            [DOCKER, "image", "inspect", "--format",
             '{{index .Config.Labels "org.opencontainers.image.base.name"}}', f"emporium/ui:{tag}"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        assert label == base
    finally:
        images = [f"emporium/{name}:{tag}" for name in IMAGES]
        subprocess.run([DOCKER, "rmi", *images], capture_output=True, check=False)


def test_the_readmes_skaffold_commands_work_as_written(skaffold: Path, env: dict[str, str]) -> None:
    commands = [
        shlex.split(command, comments=True)
        for command in readme_commands("Develop on kind with skaffold")
        if command.startswith("skaffold ")
    ]
    # (`skaffold config set` and `skaffold run --profile eks` are for an AWS account.)
    runnable = [argv for argv in commands if argv[1] in ("diagnose", "render", "build")]
    assert [argv[1] for argv in runnable] == ["diagnose", "render", "build"]
    for argv in runnable:
        done = run(skaffold, env, *argv[1:])
        assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout[-2000:]}{done.stderr}"
