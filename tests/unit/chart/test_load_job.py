"""The load Job (load.enabled): off by default; on, tests/load's journeys run once against the
entry point from a pod hardened like the others, which reaches DNS and the entry point only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.unit.chart.conftest import (
    NAMESPACE,
    RELEASE,
    ROOT,
    SETUPS,
    Release,
    containers,
    name,
    notes,
    template,
    template_error,
)
from tests.unit.chart.test_network_policies import DNS, allowed, connects, labels, sends

SERVICES = ("catalog", "cart", "orders", "fulfillment", "ui", "edge")
API_GATEWAY = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"


def load_objects(release: Release) -> list[dict[str, Any]]:
    return [
        o
        for o in release.objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "load"
    ]


def load_job(release: Release) -> dict[str, Any]:
    (job,) = [o for o in load_objects(release) if o["kind"] == "Job"]
    return job


def option(job: dict[str, Any], flag: str) -> str:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    args: list[str] = container["args"]
    return args[args.index(flag) + 1]


def load_pod_labels() -> dict[str, str]:
    """The labels the load Job's pod would carry in the test release."""
    return {
        "app.kubernetes.io/name": "emporium",
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/component": "load",
    }


def labels_of(release: Release, component: str) -> dict[str, str]:
    """What selects a Deployment's pods."""
    selector = release.get("Deployment", name(component))["spec"]["selector"]["matchLabels"]
    return dict(selector)


@pytest.fixture(scope="module")
def kind(helm: Path) -> Release:
    return template(helm, *SETUPS["kind"], "--set=load.enabled=true")


@pytest.mark.parametrize("setup", ["kind", "eks", "defaults"])
def test_off_by_default_nothing_of_it_is_rendered(helm: Path, setup: str) -> None:
    release = template(helm, *SETUPS[setup])
    assert load_objects(release) == []
    assert not any("load" in o["metadata"]["name"] for o in release.objects)
    if setup == "kind":
        # Nor may anything of that name reach the edge.
        assert not allowed(release, "edge", "http", pod=load_pod_labels())


def test_on_it_runs_the_journeys_once_against_the_edge(kind: Release) -> None:
    job = load_job(kind)
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["spec"]["backoffLimit"] == 0  # one run: a retry would blur the figures
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert job["spec"]["activeDeadlineSeconds"] > 60
    # A plain Job: a hook would hold up the install and fail it with the run.
    assert "helm.sh/hook" not in job["metadata"].get("annotations", {})
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == "emporium/load:dev"
    assert container["command"] == ["python", "/opt/load/run.py"]
    assert option(job, "--url") == f"http://{name('edge')}:8080"
    assert (option(job, "--users"), option(job, "--spawn-rate")) == ("20", "4")
    assert option(job, "--duration") == "60"
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "192Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }


def test_the_runs_settings_come_from_the_values(helm: Path) -> None:
    job = load_job(
        template(
            helm,
            *SETUPS["kind"],
            "--set=load.enabled=true,load.users=150,load.spawnRate=2.5,load.durationSeconds=600",
            "--set=load.ttlSecondsAfterFinished=120,load.resources.limits.cpu=2",
            "--set=load.image.tag=1.2.3",
        )
    )
    assert option(job, "--users") == "150"
    assert option(job, "--spawn-rate") == "2.5"
    assert option(job, "--duration") == "600"
    assert job["spec"]["activeDeadlineSeconds"] > 600
    assert job["spec"]["ttlSecondsAfterFinished"] == 120
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["cpu"] == 2
    assert container["image"] == "emporium/load:1.2.3"
    assert "--pace" not in container["args"]  # shoppers think between journeys


@pytest.mark.parametrize("pace", ["0", "0.5", "2"])
def test_a_pace_is_passed_on(helm: Path, pace: str) -> None:
    job = load_job(template(helm, *SETUPS["kind"], f"--set=load.enabled=true,load.pace={pace}"))
    assert option(job, "--pace") == pace


def test_the_job_is_hardened_like_the_services(kind: Release) -> None:
    pod = load_job(kind)["spec"]["template"]
    catalog = kind.get("Deployment", name("catalog"))["spec"]["template"]
    assert pod["spec"]["securityContext"] == catalog["spec"]["securityContext"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    (container,) = containers(pod)
    (service,) = containers(catalog)
    assert container["securityContext"] == service["securityContext"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts  # noqa: S108 - locust's statistics, in the pod's emptyDir


def test_it_reaches_dns_and_the_edge_and_nothing_else(kind: Release) -> None:
    assert connects(kind, "load", "edge", "http")
    for service in SERVICES[:-1]:
        assert not connects(kind, "load", service, "http"), service
    for store, port in (("redis", "redis"), ("dynamodb", "http"), ("oidc-issuer", "http")):
        assert not connects(kind, "load", store, port), store
    assert sends(kind, "load", 53, to=DNS)
    (egress,) = [
        p
        for p in kind.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "load"
    ]
    # DNS, then the edge's pods: no address blocks, no other peer.
    rules = egress["spec"]["egress"]
    assert len(rules) == 2
    assert rules[1]["to"] == [
        {"podSelector": {"matchLabels": labels_of(kind, "edge")}},
    ]
    # And the default deny covers its pod, both ways.
    deny = kind.get("NetworkPolicy", name("default-deny"))
    selector = deny["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= labels(kind, "load").items()


def test_another_url_is_reached_on_its_port_through_egress_to(helm: Path) -> None:
    release = template(
        helm,
        *SETUPS["eks"],
        f"--set=load.enabled=true,load.url={API_GATEWAY}",
        "--set=load.egressTo[0].ipBlock.cidr=203.0.113.0/24",
    )
    assert option(load_job(release), "--url") == API_GATEWAY
    egress = release.get("NetworkPolicy", name("load-egress"))["spec"]["egress"]
    assert egress[1:] == [
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
            "ports": [{"port": 443, "protocol": "TCP"}],
        }
    ]
    port = template(
        helm, *SETUPS["kind"], "--set=load.enabled=true,load.url=http://shop.example.com:8081"
    )
    assert port.get("NetworkPolicy", name("load-egress"))["spec"]["egress"][1]["ports"] == [
        {"port": 8081, "protocol": "TCP"}
    ]
    # Sent elsewhere, it is not let into the edge.
    assert not allowed(port, "edge", "http", pod=labels(port, "load"))


def test_without_the_edge_it_needs_a_url(helm: Path) -> None:
    message = template_error(helm, *SETUPS["eks"], "--set=load.enabled=true")
    assert "load.url is required without edge.enabled" in message


def test_a_changed_run_is_a_new_job_and_the_same_run_the_same_job(helm: Path) -> None:
    # A Job's pod template cannot change: an upgrade that changed it in place would fail.
    def job_name(*extra: str) -> str:
        release = template(helm, *SETUPS["kind"], "--set=load.enabled=true", *extra)
        found: str = load_job(release)["metadata"]["name"]
        return found

    first = job_name()
    assert first == job_name()
    assert first.startswith(f"{name('load')}-")
    assert job_name("--set=load.users=21") != first
    assert job_name("--set=image.tag=other") != first
    assert job_name("--set=imagePullSecrets[0].name=regcred") != first
    # What may change in place keeps the Job (and does not run the load again).
    assert job_name("--set=load.ttlSecondsAfterFinished=60") == first


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        ("load.users=0", "/load/users"),
        ("load.durationSeconds=-5", "/load/durationSeconds"),
        ("load.spawnRate=fast", "/load/spawnRate"),
        ("load.pace=-1", "/load/pace"),
        ("load.pace=fast", "/load/pace"),
        ("load.url=ftp://shop.example.com", "/load/url"),
        ("load.url=http://shop.example.com/", "/load/url"),
        ("load.user=20", "'user' not allowed"),
    ],
)
def test_the_schema_refuses_a_bad_value(helm: Path, setting: str, where: str) -> None:
    message = template_error(helm, *SETUPS["kind"], "--set=load.enabled=true", f"--set={setting}")
    assert where in message


def test_a_spawn_rate_of_nothing_fails_the_install(helm: Path) -> None:
    message = template_error(helm, *SETUPS["kind"], "--set=load.enabled=true,load.spawnRate=0.0")
    assert "load.spawnRate (0.0) must be above 0" in message


def test_the_job_runs_what_the_image_holds_with_options_run_py_knows(kind: Release) -> None:
    (container,) = load_job(kind)["spec"]["template"]["spec"]["containers"]
    script = container["command"][1]
    dockerfile = (ROOT / "docker" / "load.Dockerfile").read_text()
    copied = re.search(r"^COPY tests/load/locustfile.py tests/load/run.py (\S+)$", dockerfile, re.M)
    assert copied, "docker/load.Dockerfile no longer copies the journeys"
    assert script == f"{copied[1].rstrip('/')}/run.py"
    usage = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "load" / "run.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag in container["args"][::2]:
        assert flag in usage, flag


def test_notes_say_how_to_read_the_result(helm: Path, tmp_path: Path) -> None:
    text = notes(helm, tmp_path, *SETUPS["kind"], "--set=load.enabled=true")
    job = load_job(template(helm, *SETUPS["kind"], "--set=load.enabled=true"))["metadata"]["name"]
    assert f"kubectl --namespace {NAMESPACE} logs --follow" in text
    assert f"job/{job}" in text
    assert f"get job {job}" in text
    assert "logs --follow" not in notes(helm, tmp_path, *SETUPS["kind"])
