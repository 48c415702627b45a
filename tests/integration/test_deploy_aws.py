"""The deploy paths' calls to AWS (eksctl/deploy), against a real moto server process: the
commands as `make` runs them (`python -m deploy ...`), with the SDK pointed at it by
AWS_ENDPOINT_URL. Docker, helm and kubectl are stand-ins that record what they are asked
(no registry and no EKS cluster answer here): what reaches AWS is real, what reaches those
tools is checked as their command lines and input."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import textwrap
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests
import yaml
from tests.integration.conftest import unavailable
from tests.integration.deploy_tools import deploy_tool

from deploy import ecr, identity, lookups
from deploy.config import PUSHED_IMAGES, ROOT, load_cluster
from deploy.steps import DeployError
from devstack.processes import Group, free_port, http_status

pytestmark = pytest.mark.integration

REGION = load_cluster().region
CLUSTER = load_cluster().name
ACCOUNT = "123456789012"  # moto's
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def hermetic_env(**extra: str) -> dict[str, str]:
    """This process's environment without any AWS setting of the machine's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **env,
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONPATH": str(ROOT / "eksctl"),
        **extra,
    }


@pytest.fixture
def env(moto_url: str, tmp_path: Path) -> dict[str, str]:
    """Credentials and the cluster's region, for a moto server emptied before each test."""
    requests.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    return hermetic_env(
        AWS_ENDPOINT_URL=moto_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION=REGION,
        EMPORIUM_ACCOUNT_VALUES=str(tmp_path / "values-eks-account.yaml"),
    )


@pytest.fixture
def session(env: dict[str, str]) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name=REGION,
    )


def client(session: boto3.Session, env: dict[str, str], name: str):  # type: ignore[no-untyped-def]
    return session.client(name, endpoint_url=env["AWS_ENDPOINT_URL"])  # type: ignore[call-overload]


def deploy(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deploy", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@dataclass
class StandIn:
    """An executable that records each call: its arguments, and its stdin when it reads one."""

    path: Path
    log: Path

    def calls(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        return [list(call["argv"]) for call in self.calls()]  # type: ignore[call-overload]


def stand_in(
    tmp_path: Path, name: str, fail_when: str = "", then: str = "", prints: str = ""
) -> StandIn:
    """`name` on a PATH of its own: records argv (and stdin for `login`, `apply`); exits 1 when
    its arguments contain `fail_when`; runs the Python code `then` (what the real tool's work
    would make happen in AWS) on its first call; prints `prints` on stdout when its arguments
    start with `image inspect` (docker's answer)."""
    log = tmp_path / f"{name}.calls"
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"""#!{sys.executable}
import json, sys
argv = sys.argv[1:]
stdin = sys.stdin.read() if ("login" in argv or "apply" in argv) else None
import os
first = not os.path.exists({str(log)!r})
with open({str(log)!r}, "a") as log:
    log.write(json.dumps({{"argv": argv, "stdin": stdin}}) + "\\n")
if first:
{textwrap.indent(then or "pass", "    ")}
failed = {fail_when!r} and {fail_when!r} in " ".join(argv)
if not failed and argv[:2] == ["image", "inspect"]:
    print({prints!r})
sys.exit(1 if failed else 0)
"""
    )
    path.chmod(0o755)
    return StandIn(path, log)


# make identity


def test_identity_is_made_once_then_found_and_reused(
    env: dict[str, str], session: boto3.Session
) -> None:
    first = deploy(env, "identity")
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("created") == 3  # pool, client, domain
    second = deploy(env, "identity")
    assert second.returncode == 0, second.stderr
    assert "created" not in second.stderr
    assert second.stderr.count("reused") == 3
    assert second.stdout == first.stdout
    printed = dict(line.split("=", 1) for line in first.stdout.splitlines())

    cognito = client(session, env, "cognito-idp")
    (pool,) = cognito.list_user_pools(MaxResults=60)["UserPools"]
    assert printed["ORDERS_OIDC_ISSUER"] == (
        f"https://cognito-idp.{REGION}.amazonaws.com/{pool['Id']}"
    )
    (app,) = cognito.list_user_pool_clients(UserPoolId=pool["Id"], MaxResults=60)["UserPoolClients"]
    assert printed["ORDERS_OIDC_AUDIENCE"] == app["ClientId"]
    settings = cognito.describe_user_pool_client(UserPoolId=pool["Id"], ClientId=app["ClientId"])[
        "UserPoolClient"
    ]
    assert "ClientSecret" not in settings  # a public client: the page uses PKCE
    assert settings["AllowedOAuthFlows"] == ["code"]
    assert set(settings["AllowedOAuthScopes"]) == {"openid", "email"}
    assert printed["UI_OIDC_AUTHORIZE_URL"] == (
        f"https://emporium-{ACCOUNT}.auth.{REGION}.amazoncognito.com/oauth2/authorize"
    )


def test_two_pools_of_the_same_name_are_refused(
    env: dict[str, str], session: boto3.Session
) -> None:
    cognito = client(session, env, "cognito-idp")
    for _ in range(2):
        cognito.create_user_pool(PoolName=identity.POOL_NAME)
    done = deploy(env, "identity")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "deploy identity: FAILED: 2 Cognito user pools are named emporium: delete all but one"
    )


# make push


def test_push_makes_each_repository_once_and_logs_in_with_the_tokens_user_and_password(
    env: dict[str, str], session: boto3.Session, tmp_path: Path
) -> None:
    docker = stand_in(tmp_path, "docker", prints="linux/amd64")
    first = deploy(env, "push", "--tag", "0a1b2c3", "--docker", str(docker.path))
    assert first.returncode == 0, first.stderr
    assert first.stderr.count(": created") == len(PUSHED_IMAGES)
    second = deploy(env, "push", "--tag", "0a1b2c3", "--docker", str(docker.path))
    assert second.returncode == 0, second.stderr
    assert second.stderr.count(": exists") == len(PUSHED_IMAGES)
    assert (
        second.stdout
        == first.stdout
        == "".join(f"{REGISTRY}/emporium/{name}:0a1b2c3\n" for name in PUSHED_IMAGES)
    )

    ecr_client = client(session, env, "ecr")
    repositories = ecr_client.describe_repositories()["repositories"]
    assert sorted(r["repositoryName"] for r in repositories) == sorted(
        f"emporium/{name}" for name in PUSHED_IMAGES
    )
    assert "emporium/load" in {r["repositoryName"] for r in repositories}  # the chart's load Job
    for repository in repositories:
        assert repository["imageTagMutability"] == "IMMUTABLE"
        assert repository["imageScanningConfiguration"]["scanOnPush"] is True
        policy = ecr_client.get_lifecycle_policy(repositoryName=repository["repositoryName"])
        assert json.loads(policy["lifecyclePolicyText"]) == ecr.LIFECYCLE_POLICY

    # docker login with the ECR token's user and password, the password on stdin only.
    token = ecr_client.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, password = base64.b64decode(token).decode().split(":", 1)
    logins = [c for c in docker.calls() if c["argv"][0] == "login"]  # type: ignore[index]
    assert len(logins) == 2
    for login in logins:
        assert login["argv"] == ["login", "--username", user, "--password-stdin", REGISTRY]
        assert login["stdin"] == password
    assert all(password not in " ".join(argv) for argv in docker.argvs())
    pushes = [argv for argv in docker.argvs() if argv[0] == "push"]
    assert pushes == 2 * [["push", f"{REGISTRY}/emporium/{n}:0a1b2c3"] for n in PUSHED_IMAGES]
    tags = [argv for argv in docker.argvs() if argv[0] == "tag"]
    assert tags[0] == ["tag", "emporium/catalog:0a1b2c3", f"{REGISTRY}/emporium/catalog:0a1b2c3"]


def test_a_repository_made_by_hand_is_brought_in_line(
    env: dict[str, str], session: boto3.Session
) -> None:
    ecr_client = client(session, env, "ecr")
    ecr_client.create_repository(repositoryName="emporium/catalog", imageTagMutability="MUTABLE")
    found = ecr.ensure_repository(ecr_client, "emporium/catalog")
    assert not found.created
    (repository,) = ecr_client.describe_repositories(repositoryNames=["emporium/catalog"])[
        "repositories"
    ]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True


def test_push_refuses_an_image_that_is_not_built(env: dict[str, str], tmp_path: Path) -> None:
    docker = stand_in(
        tmp_path,
        "docker",
        fail_when="image inspect --format {{.Os}}/{{.Architecture}} emporium/ui:",
        prints="linux/amd64",
    )
    done = deploy(env, "push", "--tag", "0a1b2c3", "--docker", str(docker.path))
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "deploy push: FAILED: emporium/ui:0a1b2c3 is not built here: run `make images` first"
    )
    assert not [argv for argv in docker.argvs() if argv[0] in ("login", "push")]


def arm64_image(reference: str) -> None:
    """An image built for linux/arm64 (as `make images` makes them on an Apple silicon or
    Graviton machine), loaded into the local Docker engine: one small layer, no base."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        add_file(tar, "hello.txt", b"built on arm64\n")
    diff_id = "sha256:" + hashlib.sha256(layer.getvalue()).hexdigest()
    config = json.dumps(
        {
            "architecture": "arm64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [reference], "Layers": ["layer.tar"]}]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        add_file(tar, config_name, config)
        add_file(tar, "layer.tar", layer.getvalue())
        add_file(tar, "manifest.json", json.dumps(manifest).encode())
    subprocess.run(
        ["docker", "load"], input=archive.getvalue(), capture_output=True, check=True, timeout=60
    )


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_push_refuses_an_image_that_fargate_cannot_run(
    env: dict[str, str], session: boto3.Session
) -> None:
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode:
        unavailable("no Docker engine answers (start one: .ci/docker-up)")
    tag = f"arm64-test-{uuid.uuid4().hex[:8]}"
    arm64_image(f"emporium/catalog:{tag}")
    try:
        done = deploy(env, "push", "--tag", tag)
    finally:
        subprocess.run(
            ["docker", "rmi", f"emporium/catalog:{tag}"], capture_output=True, check=False
        )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"deploy push: FAILED: emporium/catalog:{tag} is built for linux/arm64, but EKS Fargate"
        " runs linux/amd64 only: build it with DOCKER_DEFAULT_PLATFORM=linux/amd64 make images"
    )
    # Refused before anything is made in the account, or pushed.
    assert client(session, env, "ecr").describe_repositories()["repositories"] == []
    assert "docker login" not in done.stderr


# The ALB of the Ingress group, among several load balancers


def vpc_with_subnets(session: boto3.Session, env: dict[str, str]) -> tuple[str, list[str]]:
    ec2 = client(session, env, "ec2")
    vpc = ec2.create_vpc(CidrBlock="192.168.0.0/16")["Vpc"]["VpcId"]
    subnets = []
    for index, zone in enumerate("abc"):
        subnet = ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"192.168.{index}.0/24", AvailabilityZone=f"{REGION}{zone}"
        )["Subnet"]["SubnetId"]
        subnets.append(subnet)
    return vpc, subnets


def load_balancer(
    session: boto3.Session, env: dict[str, str], name: str, subnets: list[str], **tags: str
) -> str:
    elbv2 = client(session, env, "elbv2")
    made = elbv2.create_load_balancer(
        Name=name,
        Subnets=subnets[:2],
        Scheme="internal",
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
    )
    arn: str = made["LoadBalancers"][0]["LoadBalancerArn"]
    return arn


def listener(
    session: boto3.Session, env: dict[str, str], vpc: str, balancer: str, port: int
) -> str:
    elbv2 = client(session, env, "elbv2")
    group = elbv2.create_target_group(
        Name=f"tg-{port}-{balancer[-8:]}", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]["TargetGroupArn"]
    arn: str = elbv2.create_listener(
        LoadBalancerArn=balancer,
        Protocol="HTTP",
        Port=port,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
    )["Listeners"][0]["ListenerArn"]
    return arn


def test_the_listener_is_found_by_the_ingress_groups_tags_among_many(
    env: dict[str, str], session: boto3.Session
) -> None:
    vpc, subnets = vpc_with_subnets(session, env)
    elbv2 = client(session, env, "elbv2")
    assert lookups.find_listener(elbv2, CLUSTER, "emporium") is None
    # More than DescribeTags takes at once (20), and near misses: the same group on another
    # cluster, another group on this cluster, none of the controller's tags.
    for index in range(22):
        tags = [
            {lookups.CLUSTER_TAG: "other-cluster", lookups.STACK_TAG: "emporium"},
            {lookups.CLUSTER_TAG: CLUSTER, lookups.STACK_TAG: "another-group"},
            {"team": "web"},
        ][index % 3]
        decoy = load_balancer(session, env, f"decoy-{index}", subnets, **tags)
        listener(session, env, vpc, decoy, 80)
    ours = load_balancer(
        session,
        env,
        "k8s-emporium-0a1b2c3d4e",
        subnets,
        **{lookups.CLUSTER_TAG: CLUSTER, lookups.STACK_TAG: "emporium"},
    )
    assert lookups.find_listener(elbv2, CLUSTER, "emporium") is None  # no listener yet
    https = listener(session, env, vpc, ours, 443)
    http = listener(session, env, vpc, ours, 80)
    assert lookups.find_listener(elbv2, CLUSTER, "emporium") == http
    assert lookups.find_listener(elbv2, CLUSTER, "emporium", port=443) == https


# make deploy, end to end against moto, with helm and kubectl stand-ins


def eks_cluster(session: boto3.Session, env: dict[str, str]) -> list[str]:
    """A VPC as eksctl makes it (private subnets tagged for internal load balancers) and the
    cluster in it; returns the private subnets."""
    vpc, subnets = vpc_with_subnets(session, env)
    ec2 = client(session, env, "ec2")
    private = sorted(subnets[:2])
    ec2.create_tags(Resources=private, Tags=[{"Key": lookups.INTERNAL_ELB_TAG, "Value": "1"}])
    group = ec2.create_security_group(GroupName="cluster", Description="pods", VpcId=vpc)
    # (moto's EKS reports no clusterSecurityGroupId of its own: the additional group stands in.)
    client(session, env, "eks").create_cluster(
        name=CLUSTER,
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/eksctl-emporium-cluster-ServiceRole",
        resourcesVpcConfig={"subnetIds": subnets, "securityGroupIds": [group["GroupId"]]},
    )
    return private


def test_the_clusters_private_subnets(env: dict[str, str], session: boto3.Session) -> None:
    private = eks_cluster(session, env)
    network = lookups.cluster_network(
        client(session, env, "eks"), client(session, env, "ec2"), CLUSTER
    )
    assert network.private_subnets == private
    assert network.vpc_cidr == "192.168.0.0/16"
    assert network.cluster_security_group.startswith("sg-")


def test_deploy_without_a_cluster_says_to_make_one(env: dict[str, str], tmp_path: Path) -> None:
    done = deploy(env, "deploy", "--tag", "0a1b2c3")
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"deploy deploy: FAILED: no EKS cluster {CLUSTER} here: run `make cluster` first"
    )


def test_deploy_releases_the_store_and_feeds_the_listener_to_api_gateway(
    env: dict[str, str], session: boto3.Session, tmp_path: Path
) -> None:
    private = eks_cluster(session, env)
    made = identity.ensure_identity(client(session, env, "cognito-idp"), REGION, ACCOUNT)
    balancer = load_balancer(
        session,
        env,
        "k8s-emporium-0a1b2c3d4e",
        private,
        **{lookups.CLUSTER_TAG: CLUSTER, lookups.STACK_TAG: "emporium"},
    )
    vpc = client(session, env, "ec2").describe_subnets(SubnetIds=private)["Subnets"][0]["VpcId"]
    http = listener(session, env, vpc, balancer, 80)
    api = client(session, env, "apigatewayv2").create_api(Name="emporium-api", ProtocolType="HTTP")
    client(session, env, "elasticache").create_replication_group(
        ReplicationGroupId="emporium-redis", ReplicationGroupDescription="the store's"
    )
    helm = stand_in(tmp_path, "helm")
    # No Secret exists yet: `kubectl get secret` fails, so each is made.
    kubectl = stand_in(tmp_path, "kubectl", fail_when="get secret")

    done = deploy(
        env, "deploy", "--tag", "0a1b2c3", "--timeout", "0",
        "--helm", str(helm.path), "--kubectl", str(kubectl.path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"The store: {api['ApiEndpoint']}/\n"

    (upgrade,) = helm.argvs()  # Redis and the listener were there already: one pass
    values_file = Path(env["EMPORIUM_ACCOUNT_VALUES"])
    assert upgrade == [
        "upgrade", "--install", "emporium", str(ROOT / "charts/emporium"),
        "--namespace", "emporium",
        "-f", str(ROOT / "charts/emporium/values-eks.yaml"), "-f", str(values_file),
        "--wait", "--timeout", "15m",
    ]  # fmt: skip
    values = yaml.safe_load(values_file.read_text())
    assert values["image"] == {"registry": REGISTRY, "tag": "0a1b2c3"}
    assert values["aws"]["apiGateway"]["albListenerArn"] == http
    assert values["aws"]["apiGateway"]["subnetIds"] == private
    # The stage's access log: its group made, with a retention, and named to the chart.
    (group,) = client(session, env, "logs").describe_log_groups(
        logGroupNamePrefix="/aws/apigateway/"
    )["logGroups"]
    assert group["logGroupName"] == f"/aws/apigateway/{CLUSTER}-emporium"
    assert group["retentionInDays"] == 30
    assert values["aws"]["apiGateway"]["accessLogArn"] == group["arn"].removesuffix(":*")
    assert values["orders"]["oidc"] == {"issuer": made.issuer, "audience": made.audience}
    assert values["redis"]["url"].startswith("rediss://")
    assert values["seed"] == {"enabled": True}
    assert values["catalog"]["serviceAccount"]["roleArn"] == (
        f"arn:aws:iam::{ACCOUNT}:role/emporium-catalog"
    )

    applied = [json.loads(str(c["stdin"])) for c in kubectl.calls() if c["stdin"]]
    assert applied[0] == {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "emporium"}}
    secrets = {s["metadata"]["name"]: s["stringData"] for s in applied[1:]}
    assert {name: sorted(data) for name, data in secrets.items()} == {
        "emporium-catalog": ["adminToken", "hmacKey"],
        "emporium-orders": ["hmacKey", "internalToken"],
        "emporium-redis": ["authToken"],
    }
    every_argument = " ".join(" ".join(argv) for argv in kubectl.argvs() + helm.argvs())
    for data in secrets.values():
        for value in data.values():
            assert len(value) == 64
            assert value not in every_argument  # secrets through stdin only

    # Sign-in may now come back to the store at API Gateway's address.
    callbacks = client(session, env, "cognito-idp").describe_user_pool_client(
        UserPoolId=made.pool_id, ClientId=made.client_id
    )["UserPoolClient"]["CallbackURLs"]
    assert callbacks == [identity.LOCAL_CALLBACK, f"{api['ApiEndpoint']}/"]


# make cluster-delete: nothing deleted unless the cluster's name is typed (or given as CONFIRM)


def cluster_delete(
    env: dict[str, str], tmp_path: Path, answer: str | None, confirm: str | None = None
) -> tuple[subprocess.CompletedProcess[str], StandIn, StandIn, Path]:
    """`make cluster-delete` with helm and eksctl stand-ins, `answer` typed at its question (None:
    no input at all); the file returned holds how many helm calls eksctl came after."""
    helm = stand_in(tmp_path, "helm")
    helm_calls_before = tmp_path / "helm-calls-before-eksctl"
    eksctl = stand_in(
        tmp_path,
        "eksctl",
        then=f"open({str(helm_calls_before)!r}, 'w').write("
        f"str(len(open({str(helm.log)!r}).read().splitlines())))",
    )
    done = subprocess.run(
        ["make", "cluster-delete", f"HELM={helm.path}", f"EKSCTL={eksctl.path}",
         *([f"CONFIRM={confirm}"] if confirm is not None else [])],
        env={k: v for k, v in env.items() if not k.startswith("MAKE")},
        cwd=ROOT,
        input=answer if answer is not None else "",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )  # fmt: skip
    return done, helm, eksctl, helm_calls_before


@pytest.mark.parametrize(
    ("answer", "confirm"),
    [
        ("emporium-prod\n", None),  # another name typed
        (CLUSTER.upper() + "\n", None),  # not exactly the name
        ("\n", None),  # Enter alone
        (None, None),  # no input at all (a script without CONFIRM)
        (None, "yes"),  # CONFIRM takes the name, not yes
    ],
)
def test_cluster_delete_without_the_clusters_name_deletes_nothing(
    env: dict[str, str], tmp_path: Path, answer: str | None, confirm: str | None
) -> None:
    done, helm, eksctl, _ = cluster_delete(env, tmp_path, answer, confirm)
    assert done.returncode != 0
    assert "cluster-delete: not confirmed: nothing deleted" in done.stderr.splitlines()
    assert helm.calls() == []
    assert eksctl.calls() == []


@pytest.mark.parametrize(("answer", "confirm"), [(f"{CLUSTER}\n", None), (None, CLUSTER)])
def test_cluster_delete_with_the_clusters_name_uninstalls_then_deletes_the_cluster(
    env: dict[str, str], tmp_path: Path, answer: str | None, confirm: str | None
) -> None:
    done, helm, eksctl, helm_calls_before = cluster_delete(env, tmp_path, answer, confirm)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cluster-delete: step 2/5: confirm: this deletes the cluster" in done.stdout
    store, *controllers = helm.argvs()
    assert store[:4] == ["uninstall", "emporium", "--namespace", "emporium"]
    assert [argv[1] for argv in controllers] == [
        "aws-load-balancer-controller", "ack-dynamodb-controller", "ack-elasticache-controller",
        "ack-apigatewayv2-controller",
    ]  # fmt: skip
    assert all(argv[:4:2] == ["uninstall", "--namespace"] for argv in controllers)
    assert eksctl.argvs() == [["delete", "cluster", "-f", "eksctl/cluster.yaml", "--wait"]]
    assert helm_calls_before.read_text() == "5"  # the cluster goes last


# make teardown-aws: after cluster-delete, what stays on purpose, deleted once confirmed

TABLES = ["emporium-catalog", "emporium-carts", "emporium-orders", "emporium-fulfillment"]
LOG_GROUPS = [f"/aws/eks/{CLUSTER}/cluster", f"/aws/apigateway/{CLUSTER}-emporium"]


def leftovers(session: boto3.Session, env: dict[str, str]) -> dict[str, list[str]]:
    """What the account holds, ours and others' alike."""
    cognito = client(session, env, "cognito-idp")
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    domains = [
        f"emporium-{ACCOUNT}"
        for pool in pools
        if cognito.describe_user_pool_domain(Domain=f"emporium-{ACCOUNT}")["DomainDescription"]
        .get("UserPoolId") == pool["Id"]
    ]  # fmt: skip
    return {
        "tables": sorted(client(session, env, "dynamodb").list_tables()["TableNames"]),
        "repositories": sorted(
            r["repositoryName"]
            for r in client(session, env, "ecr").describe_repositories()["repositories"]
        ),
        "pools": sorted(pool["Name"] for pool in pools),
        "domains": domains,
        "log groups": sorted(
            g["logGroupName"]
            for g in client(session, env, "logs").describe_log_groups()["logGroups"]
        ),
    }


def left_behind(session: boto3.Session, env: dict[str, str]) -> None:
    """What make cluster-delete leaves: the tables (deletion protection on), the repositories
    of make push, the identity of make identity, the control plane's log group; and some of
    another project's, which must stay."""
    dynamodb = client(session, env, "dynamodb")
    for name in [*TABLES, "someone-elses"]:
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            DeletionProtectionEnabled=True,
        )
    ecr_client = client(session, env, "ecr")
    for name in PUSHED_IMAGES:
        ecr.ensure_repository(ecr_client, f"emporium/{name}")
    ecr_client.create_repository(repositoryName="other/app")
    identity.ensure_identity(client(session, env, "cognito-idp"), REGION, ACCOUNT)
    client(session, env, "cognito-idp").create_user_pool(PoolName="other-pool")
    logs = client(session, env, "logs")
    for group in (*LOG_GROUPS, "/aws/eks/other-cluster/cluster"):
        logs.create_log_group(logGroupName=group)


OTHERS = {
    "tables": ["someone-elses"],
    "repositories": ["other/app"],
    "pools": ["other-pool"],
    "domains": [],
    "log groups": ["/aws/eks/other-cluster/cluster"],
}


def teardown_aws(
    env: dict[str, str], typed: str | None, confirm: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`make teardown-aws`, `typed` at its question (None: no input)."""
    return subprocess.run(
        ["make", "teardown-aws", *([f"CONFIRM={confirm}"] if confirm is not None else [])],
        env={k: v for k, v in env.items() if not k.startswith("MAKE")},
        cwd=ROOT,
        input=typed or "",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("typed", "confirm"), [("emporium-prod\n", None), (None, None), (None, "yes")]
)
def test_teardown_without_the_clusters_name_deletes_nothing(
    env: dict[str, str], session: boto3.Session, typed: str | None, confirm: str | None
) -> None:
    left_behind(session, env)
    before = leftovers(session, env)
    done = teardown_aws(env, typed, confirm)
    assert done.returncode != 0
    assert "deploy teardown: FAILED: not confirmed: nothing deleted" in done.stderr.splitlines()
    for table in TABLES:  # listed before the question
        assert f"teardown:   DynamoDB table {table} (and its items)" in done.stderr
    assert leftovers(session, env) == before


@pytest.mark.parametrize(("typed", "confirm"), [(f"{CLUSTER}\n", None), (None, CLUSTER)])
def test_teardown_with_the_clusters_name_deletes_what_stays_and_only_that(
    env: dict[str, str], session: boto3.Session, typed: str | None, confirm: str | None
) -> None:
    left_behind(session, env)
    done = teardown_aws(env, typed, confirm)
    assert done.returncode == 0, done.stderr
    assert leftovers(session, env) == OTHERS
    # The tables, the repositories, the Cognito domain and pool, the log groups.
    expected = len(TABLES) + len(PUSHED_IMAGES) + 2 + len(LOG_GROUPS)
    assert done.stderr.count("teardown: deleted ") == expected
    # Again: nothing left to delete, and no question asked.
    again = teardown_aws(env, None)
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines()[-1] == "teardown: nothing to delete"


def test_teardown_refuses_while_the_cluster_exists(
    env: dict[str, str], session: boto3.Session
) -> None:
    eks_cluster(session, env)
    left_behind(session, env)
    before = leftovers(session, env)
    done = deploy(env, "teardown", "--confirm", CLUSTER)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"deploy teardown: FAILED: the cluster {CLUSTER} still exists: run `make cluster-delete`"
        " first"
    )
    assert leftovers(session, env) == before


# Credentials and region


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""},
            "deploy check: FAILED: no AWS credentials: set AWS_PROFILE (after `aws configure` or"
            " `aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        ),
        (
            {"AWS_REGION": ""},
            f"deploy check: FAILED: no AWS region: set AWS_REGION (eksctl/cluster.yaml's cluster"
            f" is in {REGION})",
        ),
        (
            {"AWS_REGION": "ap-south-2"},
            f"deploy check: FAILED: AWS_REGION is ap-south-2, but the cluster of cluster.yaml is"
            f" in {REGION}: change one of them",
        ),
    ],
)
def test_missing_credentials_or_region_is_one_line(
    env: dict[str, str], setting: dict[str, str], message: str
) -> None:
    env = {k: v for k, v in {**env, **setting}.items() if v}
    done = deploy(env, "check")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [message]


def test_check_says_who_and_where(env: dict[str, str]) -> None:
    done = deploy(env, "check")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{ACCOUNT} {REGION}\n"


def test_a_failing_command_of_deploy_is_named_in_one_line(
    env: dict[str, str], session: boto3.Session, tmp_path: Path
) -> None:
    eks_cluster(session, env)
    identity.ensure_identity(client(session, env, "cognito-idp"), REGION, ACCOUNT)
    helm = stand_in(tmp_path, "helm", fail_when="upgrade")
    kubectl = stand_in(tmp_path, "kubectl")
    done = deploy(
        env, "deploy", "--tag", "0a1b2c3", "--timeout", "0",
        "--helm", str(helm.path), "--kubectl", str(kubectl.path),
    )  # fmt: skip
    assert done.returncode == 1
    (upgrade,) = helm.argvs()  # nothing after the failure
    failed = shlex.join([str(helm.path), *upgrade])
    assert upgrade[:3] == ["upgrade", "--install", "emporium"]
    assert done.stderr.splitlines()[-1] == f"deploy deploy: FAILED: {failed} exited with 1"
    assert "deploy: step 2/6: helm upgrade --install emporium" in done.stderr
    assert "step 3/6" not in done.stderr
    assert done.stdout == ""  # no address printed


def test_deploy_waits_for_elasticache_and_the_alb_then_upgrades_with_them(
    env: dict[str, str], session: boto3.Session, tmp_path: Path
) -> None:
    private = eks_cluster(session, env)
    identity.ensure_identity(client(session, env, "cognito-idp"), REGION, ACCOUNT)
    vpc = client(session, env, "ec2").describe_subnets(SubnetIds=private)["Subnets"][0]["VpcId"]
    # The first release is what makes ElastiCache, the ALB and (once the listener is given)
    # API Gateway: here the helm stand-in makes them in moto on its first call, as the
    # controllers would.
    made_by_the_release = f"""
import boto3
kw = dict(endpoint_url={env["AWS_ENDPOINT_URL"]!r}, region_name={REGION!r})
boto3.client("elasticache", **kw).create_replication_group(
    ReplicationGroupId="emporium-redis", ReplicationGroupDescription="the store's")
elbv2 = boto3.client("elbv2", **kw)
arn = elbv2.create_load_balancer(Name="k8s-emporium-0a1b2c3d4e", Subnets={private!r},
    Scheme="internal", Tags=[{{"Key": {lookups.CLUSTER_TAG!r}, "Value": {CLUSTER!r}}},
    {{"Key": {lookups.STACK_TAG!r}, "Value": "emporium"}}])["LoadBalancers"][0]["LoadBalancerArn"]
group = elbv2.create_target_group(Name="tg", Protocol="HTTP", Port=8080, VpcId={vpc!r},
    TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
elbv2.create_listener(LoadBalancerArn=arn, Protocol="HTTP", Port=80,
    DefaultActions=[{{"Type": "forward", "TargetGroupArn": group}}])
boto3.client("apigatewayv2", **kw).create_api(Name="emporium-api", ProtocolType="HTTP")
"""
    helm = stand_in(tmp_path, "helm", then=made_by_the_release)
    kubectl = stand_in(tmp_path, "kubectl")  # the Secrets exist: kept
    done = deploy(
        env, "deploy", "--tag", "0a1b2c3", "--timeout", "0",
        "--helm", str(helm.path), "--kubectl", str(kubectl.path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, second = helm.argvs()
    assert "--wait" not in first  # Redis unknown yet: the pods cannot be ready
    assert second[-3:] == ["--wait", "--timeout", "15m"]
    assert "secret emporium-catalog: exists, kept" in done.stderr
    assert len([c for c in kubectl.calls() if c["stdin"]]) == 1  # the namespace only


def test_controllers_get_the_cluster_the_vpc_and_their_roles(
    env: dict[str, str], session: boto3.Session, tmp_path: Path
) -> None:
    private = eks_cluster(session, env)
    vpc = client(session, env, "ec2").describe_subnets(SubnetIds=private)["Subnets"][0]["VpcId"]
    helm = stand_in(tmp_path, "helm")
    kubectl = stand_in(tmp_path, "kubectl")
    done = deploy(env, "controllers", "--helm", str(helm.path), "--kubectl", str(kubectl.path))
    assert done.returncode == 0, done.stderr
    balancer, *acks = helm.argvs()
    assert balancer[:4] == ["upgrade", "--install", "aws-load-balancer-controller",
                            "aws-load-balancer-controller"]  # fmt: skip
    # Fargate pods have no instance metadata: the controller is told its cluster, region, VPC.
    for value in (f"clusterName={CLUSTER}", f"region={REGION}", f"vpcId={vpc}"):
        assert value in balancer
    role = r"serviceAccount.annotations.eks\.amazonaws\.com/role-arn="
    assert f"{role}arn:aws:iam::{ACCOUNT}:role/emporium-aws-load-balancer-controller" in balancer
    assert [argv[2] for argv in acks] == [
        "ack-dynamodb-controller", "ack-elasticache-controller", "ack-apigatewayv2-controller"
    ]  # fmt: skip
    for argv in acks:
        assert argv[3].startswith("oci://public.ecr.aws/aws-controllers-k8s/")
        assert f"aws.region={REGION}" in argv
        assert f"{role}arn:aws:iam::{ACCOUNT}:role/emporium-{argv[2]}" in argv
        assert argv[argv.index("--namespace") + 1] == "aws-controllers"
    (namespace,) = [json.loads(str(c["stdin"])) for c in kubectl.calls()]
    assert namespace["metadata"]["name"] == "aws-controllers"


# docker login and push against a real registry (the one eksctl/build-tool builds), which
# accepts only the ECR token's user and password: no ECR answers here, so the registry stands
# in for it, and moto stands in for the ECR API that hands out the token.


@pytest.fixture
def registry(env: dict[str, str], session: boto3.Session, tmp_path: Path) -> Iterator[str]:
    binary = deploy_tool("registry")
    token = client(session, env, "ecr").get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(token["authorizationToken"]).decode().split(":", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt: the one bcrypt at hand
        import crypt  # noqa: PLC0415

        hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))  # noqa: S324 - bcrypt
    assert hashed.startswith("$2"), "this Python's crypt has no bcrypt"
    (tmp_path / "htpasswd").write_text(f"{user}:{hashed}\n")
    port = free_port()
    (tmp_path / "registry.yml").write_text(
        yaml.safe_dump(
            {
                "version": 0.1,
                "log": {"level": "warn"},
                "storage": {"filesystem": {"rootdirectory": str(tmp_path / "storage")}},
                "http": {"addr": f"127.0.0.1:{port}"},
                "auth": {
                    "htpasswd": {"realm": "emporium-tests", "path": str(tmp_path / "htpasswd")}
                },
            }
        )
    )
    with Group() as group:
        child = group.start(
            "registry", [str(binary), "serve", str(tmp_path / "registry.yml")], os.environ
        )
        child.wait_until(lambda: http_status(f"http://127.0.0.1:{port}/v2/") == 401, "answering")
        yield f"127.0.0.1:{port}"


def test_a_push_authenticated_with_the_ecr_tokens_user_and_password(
    env: dict[str, str],
    session: boto3.Session,
    registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))  # not the machine's logins
    docker = "docker"
    image = "emporium/redis:dev"  # the smallest image of `make images`
    inspected = subprocess.run(
        [docker, "image", "inspect", image], capture_output=True, check=False
    )
    if inspected.returncode:
        unavailable(f"{image} is not here: make images")
    token_login = ecr.registry_login(client(session, env, "ecr"))
    login = dataclasses.replace(token_login, registry=registry)

    refused = dataclasses.replace(login, password=login.password + "x")
    with pytest.raises(DeployError, match="login"):
        ecr.docker_login(docker, refused)

    ecr.docker_login(docker, login)
    target = f"{registry}/emporium/redis:push-test"
    for argv in ([docker, "tag", image, target], [docker, "push", target]):
        subprocess.run(argv, check=True, capture_output=True)
    subprocess.run([docker, "rmi", target], check=True, capture_output=True)
    manifest = requests.get(
        f"http://{registry}/v2/emporium/redis/manifests/push-test",
        auth=(login.username, login.password),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    assert manifest.status_code == 200
    assert (
        requests.get(f"http://{registry}/v2/emporium/redis/tags/list", timeout=10).status_code
        == 401
    )
