"""What a reviewer checks in a rendered release, for each values file and --set combination:
hardened and probed containers, Services that reach pods, references that resolve, policies
that select something, names Kubernetes accepts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.unit.chart.conftest import (
    BUILD_HELM,
    CHART,
    NAMESPACE,
    SECRET_VALUES,
    SETUPS,
    Release,
    containers,
    name,
    pinned,
    run_helm,
    template,
)

TMP, SHM = "/tmp", "/dev/shm"  # noqa: S108 - the containers' own emptyDirs
SERVICES = ("catalog", "cart", "orders", "fulfillment", "ui", "edge")
SERVICE_PATHS = {
    "startupProbe": "/healthz",
    "livenessProbe": "/healthz",
    "readinessProbe": "/readyz",
}


@pytest.fixture(scope="module", params=sorted(SETUPS))
def release(request: pytest.FixtureRequest, helm: Path) -> Release:
    return template(helm, *SETUPS[request.param])


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_helm_4_lints_and_renders_the_same_release_as_helm_3(
    helm: Path, helm4: Path, setup: str
) -> None:
    lint = run_helm(helm4, "lint", "--strict", str(CHART), *SETUPS[setup])
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert template(helm4, *SETUPS[setup]).objects == template(helm, *SETUPS[setup]).objects


@pytest.mark.parametrize("setup", ["kind", "eks"])
def test_lint_strict_passes(helm: Path, setup: str) -> None:
    done = run_helm(helm, "lint", "--strict", str(CHART), *SETUPS[setup])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_every_pod_and_container_is_hardened(release: Release) -> None:
    for workload, pod in release.workloads():
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] == 10001, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        for container in containers(pod):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["runAsNonRoot"] is True, where
            assert context.get("privileged", False) is False, where
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
            assert "emptyDir" in mounts[TMP], where  # the one writable place
            assert mounts[SHM]["emptyDir"]["medium"] == "Memory", where  # gunicorn's heartbeats
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), where
            assert {"cpu", "memory"} <= resources["limits"].keys(), where


def test_every_long_running_container_is_probed(release: Release) -> None:
    for deployment in release.of_kind("Deployment"):
        for container in containers(deployment["spec"]["template"]):
            where = f"Deployment/{deployment['metadata']['name']}"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, f"{where}: no {probe}"
            ports = {port["name"]: port["containerPort"] for port in container["ports"]}
            if "metrics" in ports:  # a service of the store
                # fulfillment has no http port: it answers its probes on the metrics port.
                probed = "metrics" if "fulfillment" in where else "http"
                expected = (
                    {"metrics": 9090} if probed == "metrics" else {"http": 8080, "metrics": 9090}
                )
                assert ports == expected, where
                for probe, path in SERVICE_PATHS.items():
                    assert container[probe]["httpGet"] == {"path": path, "port": probed}, where


def test_every_service_selects_pods_that_expose_its_ports(release: Release) -> None:
    for service in release.of_kind("Service"):
        where = f"Service/{service['metadata']['name']}"
        pods = release.pods_matching(service["spec"]["selector"])
        deployments = [d for d in release.of_kind("Deployment") if d["spec"]["template"] in pods]
        assert len(deployments) == 1, f"{where} selects the pods of {len(deployments)} Deployments"
        exposed = {
            port["name"]
            for container in containers(deployments[0]["spec"]["template"])
            for port in container.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in exposed, f"{where}: {port['targetPort']} not exposed"


def test_every_selector_matches_its_own_pod_template(release: Release) -> None:
    for deployment in release.of_kind("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert set(selector) == {
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/component",
        }
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()


def test_every_config_map_and_secret_a_pod_reads_exists_or_is_the_users(release: Release) -> None:
    rendered = {(o["kind"], o["metadata"]["name"]) for o in release.objects}
    users = existing_secrets_named_in_values(release)
    for workload, pod in release.workloads():
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        for container in containers(pod):
            for source in container.get("envFrom", []):
                assert ("ConfigMap", source["configMapRef"]["name"]) in rendered, where
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                if ("Secret", ref["name"]) in rendered:
                    secret = next(
                        s for s in release.of_kind("Secret") if s["metadata"]["name"] == ref["name"]
                    )
                    assert ref["key"] in secret["data"], f"{where}: {ref} has no such key"
                else:
                    assert (ref["name"], ref["key"]) in users, f"{where}: {ref} is nobody's"


def existing_secrets_named_in_values(release: Release) -> set[tuple[str, str]]:
    """The user's Secrets (name, key) as values-eks.yaml names them: the only ones it names."""
    import yaml  # noqa: PLC0415

    values = yaml.safe_load((CHART / "values-eks.yaml").read_text())
    return {
        (entry["existingSecret"], entry["key"])
        for entry in values["secrets"].values()
        if isinstance(entry, dict)
    }


def test_no_config_map_holds_a_secret(release: Release) -> None:
    for config_map in release.of_kind("ConfigMap"):
        for variable, value in config_map["data"].items():
            if variable.endswith("_URL"):  # an address, such as the issuer's token endpoint
                assert "@" not in value, variable  # with no credentials in it
            else:
                assert not any(w in variable for w in ("TOKEN", "HMAC", "PASSWORD")), variable
            assert value not in SECRET_VALUES.values(), variable


def test_every_network_policy_selects_pods_and_names_callers_that_exist(release: Release) -> None:
    for policy in release.of_kind("NetworkPolicy"):
        where = f"NetworkPolicy/{policy['metadata']['name']}"
        assert release.pods_matching(policy["spec"]["podSelector"]["matchLabels"]), where
        for rule in policy["spec"].get("ingress", []):
            for peer in rule["from"]:
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    selector = peer["podSelector"]["matchLabels"]
                    assert release.pods_matching(selector), f"{where}: no pod is {selector}"


def test_each_service_has_a_service_account_of_its_own(release: Release) -> None:
    accounts = {a["metadata"]["name"]: a for a in release.of_kind("ServiceAccount")}
    used = {}
    for deployment in release.of_kind("Deployment"):
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        assert account in accounts, deployment["metadata"]["name"]
        assert accounts[account]["automountServiceAccountToken"] is False
        used.setdefault(account, []).append(deployment["metadata"]["name"])
    assert all(len(names) == 1 for names in used.values()), used


def test_grace_period_outlasts_gunicorns_shutdown(release: Release) -> None:
    for deployment in release.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        source = pod["containers"][0].get("envFrom")
        if not source:
            continue  # a stand-in: nothing to drain
        settings = release.get("ConfigMap", source[0]["configMapRef"]["name"])["data"]
        shutdown = int(settings["GRACEFUL_TIMEOUT"]) + int(settings["SHUTDOWN_DELAY_SECONDS"])
        assert pod["terminationGracePeriodSeconds"] > shutdown, deployment["metadata"]["name"]
        assert int(settings["SHUTDOWN_DELAY_SECONDS"]) > 0  # the balancer is told first


def test_disruption_budgets_only_where_there_is_more_than_one_pod(release: Release) -> None:
    budgets = {p["metadata"]["name"] for p in release.of_kind("PodDisruptionBudget")}
    autoscalers = {h["metadata"]["name"]: h for h in release.of_kind("HorizontalPodAutoscaler")}
    for deployment in release.of_kind("Deployment"):
        deployment_name = deployment["metadata"]["name"]
        if deployment_name in autoscalers:
            assert "replicas" not in deployment["spec"]  # the HPA owns the count
            pods = autoscalers[deployment_name]["spec"]["minReplicas"]
        else:
            pods = deployment["spec"]["replicas"]
        assert (deployment_name in budgets) == (pods > 1), deployment_name


def test_every_object_names_the_releases_namespace(release: Release) -> None:
    # `helm template | kubectl apply` and policy scanners see where each object goes.
    for o in release.objects:
        assert o["metadata"]["namespace"] == NAMESPACE, f"{o['kind']}/{o['metadata']['name']}"


def test_names_are_valid_and_unique(release: Release) -> None:
    seen: set[tuple[str, str]] = set()
    for o in release.objects:
        object_name = o["metadata"]["name"]
        assert len(object_name) <= 63, object_name
        assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", object_name), object_name  # DNS-1035
        assert (o["kind"], object_name) not in seen, object_name
        seen.add((o["kind"], object_name))


def test_a_config_change_rolls_the_pods_of_the_services_it_reaches(helm: Path) -> None:
    def checksums(*extra: str) -> dict[str, dict[str, Any]]:
        rendered = template(helm, *SETUPS["kind"], *extra)
        return {
            service: rendered.get("Deployment", name(service))["spec"]["template"]["metadata"][
                "annotations"
            ]
            for service in SERVICES
        }

    before = checksums()
    logging = checksums("--set=settings.logLevel=DEBUG")
    token = checksums("--set-string=secrets.ordersInternalToken.value=a-rotated-token-0123456789")
    for service in SERVICES:
        assert logging[service]["checksum/config"] != before[service]["checksum/config"]
    # orders and fulfillment read the internal token; nobody else is restarted for it.
    changed = {s for s in before if token[s]["checksum/secrets"] != before[s]["checksum/secrets"]}
    assert changed == {"orders", "fulfillment"}


def test_the_readmes_lint_command_works_as_written(helm: Path) -> None:
    readme = (CHART.parents[1] / "README.md").read_text()
    section = readme.split("## Deploy with Helm\n", 1)[1].split("\n## ", 1)[0]
    script = section.split("```sh\n", 1)[1].split("```", 1)[0]
    assert "lint --strict" in script
    # The README names the binary where `make chart-tools` puts it by default.
    assert f"HELM=~/.cache/emporium/tools/helm-{pinned(BUILD_HELM, 'HELM_VERSION')}/helm" in script
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("HELM=", f"HELM={helm} #", 1)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout
