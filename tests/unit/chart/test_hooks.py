"""The seed Job, the helm test pods, the stand-ins and NOTES.txt."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.unit.chart.conftest import CHART, NAMESPACE, SETUPS, name, notes, template


def test_the_seed_job_runs_after_every_install_and_upgrade_as_catalog(helm: Path) -> None:
    rendered = template(helm, *SETUPS["kind"])
    job = rendered.get("Job", name("seed"))
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "post-install,post-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    catalog = rendered.get("Deployment", name("catalog"))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "catalog.seed"]
    assert container["image"] == catalog["containers"][0]["image"]
    assert container["envFrom"] == catalog["containers"][0]["envFrom"]
    assert container["env"] == catalog["containers"][0]["env"]
    assert pod["serviceAccountName"] == catalog["serviceAccountName"]  # the table's IAM role
    assert pod["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] > 0  # the stand-ins may still be starting


def test_seed_off_renders_no_job(helm: Path) -> None:
    assert template(helm, *SETUPS["kind"], "--set=seed.enabled=false").of_kind("Job") == []


def test_helm_test_pods_check_every_service_and_shop_through_the_edge(helm: Path) -> None:
    rendered = template(helm, *SETUPS["kind"])
    script = (CHART / "files" / "helm_test.py").read_text()
    ready = rendered.get("Pod", name("test-ready"))
    journey = rendered.get("Pod", name("test-journey"))
    for pod in (ready, journey):
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
        assert pod["spec"]["restartPolicy"] == "Never"
        assert "serviceAccountName" not in pod["spec"]  # none with an IAM role
        assert pod["spec"]["containers"][0]["command"][:3] == ["python", "-c", script]
    # fulfillment has only its metrics port, and answers /readyz there.
    assert ready["spec"]["containers"][0]["command"][3:] == [
        "ready",
        *(f"http://{name(s)}:8080" for s in ("catalog", "cart", "orders")),
        f"http://{name('fulfillment')}:9090",
        *(f"http://{name(s)}:8080" for s in ("ui", "edge")),
    ]
    assert journey["spec"]["containers"][0]["command"][3:] == [
        "journey",
        f"http://{name('edge')}:8080",
    ]


def test_helm_test_asks_each_service_where_its_readiness_probe_does(helm: Path) -> None:
    rendered = template(helm, *SETUPS["kind"])
    urls = rendered.get("Pod", name("test-ready"))["spec"]["containers"][0]["command"][4:]
    asked = set()
    for url in urls:
        host, port = urlsplit(url).hostname, urlsplit(url).port
        service = rendered.get("Service", str(host))
        (target,) = [p["targetPort"] for p in service["spec"]["ports"] if p["port"] == port]
        deployment = rendered.get("Deployment", str(host))
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": target}, url
        asked.add(deployment["metadata"]["labels"]["app.kubernetes.io/component"])
    assert asked == {"catalog", "cart", "orders", "fulfillment", "ui", "edge"}


def test_without_the_edge_helm_test_checks_readiness_only(helm: Path) -> None:
    rendered = template(helm, *SETUPS["eks"])
    assert [p["metadata"]["name"] for p in rendered.of_kind("Pod")] == [name("test-ready")]


def test_the_stand_ins_run_redis_server_and_the_emulator(helm: Path) -> None:
    rendered = template(helm, *SETUPS["kind"])
    redis = rendered.get("Deployment", name("redis"))["spec"]["template"]["spec"]["containers"][0]
    assert redis["image"] == "emporium/redis:dev"
    assert redis["command"][0] == "redis-server"
    assert "--save" in redis["command"]  # nothing written to a read-only root
    dynamodb = rendered.get("Deployment", name("dynamodb"))["spec"]["template"]["spec"]
    assert dynamodb["containers"][0]["image"] == "emporium/dynamodb:dev"
    assert dynamodb["containers"][0]["command"][:3] == [
        "python",
        "-m",
        "devstack.dynamodb_emulator",
    ]


def test_images_come_from_the_registry_and_tag_given(helm: Path) -> None:
    rendered = template(
        helm,
        *SETUPS["eks"],
        "--set=image.registry=123456789012.dkr.ecr.eu-west-1.amazonaws.com,image.tag=1.2.3",
        "--set=ui.image.tag=1.2.4",
    )
    images = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"]["template"]["spec"][
            "containers"
        ][0]["image"]
        for d in rendered.of_kind("Deployment")
    }
    registry = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert images["catalog"] == f"{registry}/emporium/catalog:1.2.3"
    assert images["ui"] == f"{registry}/emporium/ui:1.2.4"
    chart_version = template(helm, *SETUPS["defaults"])
    catalog = chart_version.get("Deployment", name("catalog"))
    app_version = catalog["metadata"]["labels"]["app.kubernetes.io/version"]
    assert catalog["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"emporium/catalog:{app_version}"
    )


def test_the_service_accounts_carry_their_iam_roles(helm: Path) -> None:
    role = "arn:aws:iam::123456789012:role/emporium-cart"
    rendered = template(helm, *SETUPS["eks"], f"--set=cart.serviceAccount.roleArn={role}")
    account = rendered.get("ServiceAccount", name("cart"))
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == role
    assert "annotations" not in rendered.get("ServiceAccount", name("orders"))["metadata"]


def test_notes_print_the_port_forward_command_and_the_url(helm: Path, tmp_path: Path) -> None:
    text = notes(helm, tmp_path, *SETUPS["kind"])
    forward = f"kubectl --namespace {NAMESPACE} port-forward service/{name('edge')} 8080:8080"
    assert forward in text
    assert "http://localhost:8080" in text
    assert f"helm test shop --namespace {NAMESPACE}" in text
