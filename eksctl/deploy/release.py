"""`make controllers` and `make deploy`: Helm releases on the EKS cluster of eksctl/cluster.yaml."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from deploy.aws import Account
from deploy.config import (
    CHART,
    CONTROLLERS_NAMESPACE,
    IMAGE_PREFIX,
    NAMESPACE,
    RELEASE,
    ROOT,
    Cluster,
    component_name,
)
from deploy.identity import Identity, allow_callback
from deploy.lookups import Network, api_url, find_listener, redis_endpoint, wait_for
from deploy.steps import Steps, run, say

if TYPE_CHECKING:
    import boto3

# The controllers' charts, at the versions whose CRDs the chart is checked against
# (../shared/crds/SOURCES.md).
LOAD_BALANCER_CONTROLLER = (
    "https://aws.github.io/eks-charts",
    "aws-load-balancer-controller",
    "3.5.0",
)
ACK_CONTROLLERS = {
    "dynamodb": "1.9.2",
    "elasticache": "1.8.0",
    "apigatewayv2": "1.4.1",
}
ACK_REGISTRY = "oci://public.ecr.aws/aws-controllers-k8s"
ROLE_ANNOTATION = r"serviceAccount.annotations.eks\.amazonaws\.com/role-arn"

# The services whose pods call AWS (DynamoDB) and so have a role (cluster.yaml).
WITH_ROLES = ("catalog", "cart", "orders", "fulfillment")
# The Secrets values-eks.yaml names, and their keys.
SECRETS = {
    "emporium-catalog": ("adminToken", "hmacKey"),
    "emporium-orders": ("internalToken", "hmacKey"),
    "emporium-redis": ("authToken",),
}
# The Ingress group of values-eks.yaml (alb.ingress.kubernetes.io/group.name) and its listener.
INGRESS_GROUP = "emporium"
# The values `make deploy` released with, which skaffold's eks profile reuses (the tests put
# theirs elsewhere).
ACCOUNT_VALUES = Path(
    os.environ.get("EMPORIUM_ACCOUNT_VALUES")
    or ROOT / "build" / "deploy" / "values-eks-account.yaml"
)
# Redis's address before ElastiCache has made it: the first install goes on without it (the
# services wait, unready), and the second pass sets the real one.
PENDING_REDIS = "rediss://elasticache-pending.invalid:6379/0"


@dataclass(frozen=True)
class Tools:
    helm: str
    kubectl: str
    context: str  # kubectl's context of the cluster; "" for the current one

    def helm_argv(self, *args: str) -> list[str]:
        return [self.helm, *(("--kube-context", self.context) if self.context else ()), *args]

    def kubectl_argv(self, *args: str) -> list[str]:
        return [self.kubectl, *(("--context", self.context) if self.context else ()), *args]


def apply(tools: Tools, manifest: dict[str, object]) -> None:
    """`kubectl apply` of one object, through stdin (never a file left behind)."""
    run(tools.kubectl_argv("apply", "-f", "-"), stdin=json.dumps(manifest))


def namespace(tools: Tools, name: str) -> None:
    apply(tools, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def install_controllers(tools: Tools, cluster: Cluster, account: Account, network: Network) -> None:
    steps = Steps("controllers", 2 + len(ACK_CONTROLLERS))
    steps.step(f"namespace {CONTROLLERS_NAMESPACE}")
    namespace(tools, CONTROLLERS_NAMESPACE)

    repo, chart, version = LOAD_BALANCER_CONTROLLER
    name = chart
    role = account.role_arn(cluster.role_name(CONTROLLERS_NAMESPACE, name))
    steps.step(f"the AWS Load Balancer Controller {version} (IRSA role {role})")
    # Fargate pods have no instance metadata to learn the region and VPC from: give them.
    run(
        tools.helm_argv(
            "upgrade", "--install", name, chart, "--repo", repo, "--version", version,
            "--namespace", CONTROLLERS_NAMESPACE, "--wait", "--timeout", "10m",
            "--set", f"clusterName={cluster.name}",
            "--set", f"region={cluster.region}",
            "--set", f"vpcId={network.vpc_id}",
            "--set", f"serviceAccount.name={name}",
            "--set-string", f"{ROLE_ANNOTATION}={role}",
        )
    )  # fmt: skip
    for service, version in ACK_CONTROLLERS.items():
        name = f"ack-{service}-controller"
        role = account.role_arn(cluster.role_name(CONTROLLERS_NAMESPACE, name))
        steps.step(f"the ACK controller for {service} {version} (IRSA role {role})")
        run(
            tools.helm_argv(
                "upgrade", "--install", name, f"{ACK_REGISTRY}/{service}-chart",
                "--version", version, "--namespace", CONTROLLERS_NAMESPACE,
                "--wait", "--timeout", "10m",
                "--set", f"aws.region={cluster.region}",
                "--set", f"serviceAccount.name={name}",
                "--set-string", f"{ROLE_ANNOTATION}={role}",
            )
        )  # fmt: skip


def ensure_secrets(tools: Tools) -> None:
    """The Secrets values-eks.yaml names, made with random values where missing (an existing
    one, from your secret store, is kept)."""
    for name, keys in SECRETS.items():
        exists = subprocess.run(  # noqa: S603 - our own command
            tools.kubectl_argv("get", "secret", name, "--namespace", NAMESPACE),
            capture_output=True,
            check=False,
        )
        if exists.returncode == 0:
            say(f"  secret {name}: exists, kept")
            continue
        # 64 hex digits: long enough for every key (the HMAC keys need 32 characters), and
        # within ElastiCache's AUTH token rules (16 to 128 printable characters, no @ " /).
        data = {key: secrets.token_hex(32) for key in keys}
        apply(
            tools,
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": NAMESPACE},
                "type": "Opaque",
                "stringData": data,
            },
        )


ACCESS_LOG_DAYS = 30  # how long API Gateway's access lines are kept


def access_log_group(cluster: Cluster) -> str:
    """The CloudWatch Logs group of API Gateway's access log (one JSON line a request)."""
    return f"/aws/apigateway/{cluster.name}-{RELEASE}"


def ensure_access_log_group(logs: Any, cluster: Cluster) -> None:
    """Made once, with a retention; found on later runs."""
    name = access_log_group(cluster)
    found = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    if not any(group["logGroupName"] == name for group in found):
        logs.create_log_group(logGroupName=name)
    logs.put_retention_policy(logGroupName=name, retentionInDays=ACCESS_LOG_DAYS)


@dataclass(frozen=True)
class Target:
    """Where the store goes and what it is made of: everything `make deploy` looked up."""

    cluster: Cluster
    account: Account
    identity: Identity
    network: Network
    tag: str

    def values(self, redis: str | None, listener: str | None) -> dict[str, Any]:
        """The release's values for this account, on top of values-eks.yaml. No secret is
        among them (the Secrets are made apart, see ensure_secrets)."""
        account, identity, network = self.account, self.identity, self.network
        security_groups = [network.cluster_security_group]
        values: dict[str, Any] = {
            "image": {"registry": account.registry, "tag": self.tag},
            "settings": {"awsRegion": self.cluster.region},
            "redis": {"url": f"rediss://{redis}/0" if redis else PENDING_REDIS},
            "orders": {"oidc": {"issuer": identity.issuer, "audience": identity.audience}},
            "ui": {
                "oidc": {
                    "authorizeUrl": identity.authorize_url,
                    "tokenUrl": identity.token_url,
                    "clientId": identity.client_id,
                }
            },
            "aws": {
                "elasticache": {
                    "subnetIds": network.private_subnets,
                    "securityGroupIds": security_groups,
                }
            },
            # The ALB reaches the pods from the VPC's addresses (target-type ip).
            "networkPolicy": {"extraPublicFrom": [{"ipBlock": {"cidr": network.vpc_cidr}}]},
            # The seed Job (a hook Helm waits for) needs Redis: not before ElastiCache is there.
            "seed": {"enabled": redis is not None},
        }
        log_group = access_log_group(self.cluster)
        access_log = (
            f"arn:{account.partition}:logs:{self.cluster.region}:{account.id}:log-group:{log_group}"
        )
        for service in WITH_ROLES:
            role_name = self.cluster.role_name(NAMESPACE, component_name(service))
            values.setdefault(service, {})["serviceAccount"] = {
                "roleArn": account.role_arn(role_name)
            }
        if listener:
            values["aws"]["apiGateway"] = {
                "albListenerArn": listener,
                "accessLogArn": access_log,
                "subnetIds": network.private_subnets,
                "securityGroupIds": security_groups,
            }
        return values


def write_values(values: dict[str, Any]) -> Path:
    """The account's values in build/deploy/ (ignored by git), for helm and for skaffold's eks
    profile, which releases with the same file."""
    ACCOUNT_VALUES.parent.mkdir(parents=True, exist_ok=True)
    ACCOUNT_VALUES.write_text(
        "# Written by `make deploy` (eksctl/deploy/release.py): your account's values.\n"
        + yaml.safe_dump(values, sort_keys=True)
    )
    return ACCOUNT_VALUES


def upgrade(tools: Tools, values: dict[str, Any], *, final: bool) -> None:
    """helm upgrade --install; the final pass (Redis and the ALB known) waits for every pod to
    be ready, and for the seed Job."""
    path = write_values(values)
    wait = ["--wait", "--timeout", "15m"] if final else []
    run(
        tools.helm_argv(
            "upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE,
            "-f", str(CHART / "values-eks.yaml"), "-f", str(path), *wait,
        )
    )  # fmt: skip


def deploy(session: boto3.Session, tools: Tools, target: Target, timeout: float) -> str:
    """Release the store, wait for ElastiCache and the ALB, feed the listener to API Gateway;
    returns API Gateway's address."""
    cluster, account = target.cluster, target.account
    elasticache = session.client("elasticache")
    elbv2 = session.client("elbv2")
    apigateway = session.client("apigatewayv2")
    steps = Steps("deploy", 6)
    steps.step(
        f"namespace {NAMESPACE}, the Secrets of values-eks.yaml and API Gateway's access log"
        f" group {access_log_group(cluster)}"
    )
    namespace(tools, NAMESPACE)
    ensure_secrets(tools)
    ensure_access_log_group(session.client("logs"), cluster)

    redis_group = component_name("redis")
    redis = redis_endpoint(elasticache, redis_group)
    listener = find_listener(elbv2, cluster.name, INGRESS_GROUP)
    steps.step(
        f"helm upgrade --install {RELEASE}"
        f" (images {account.registry}/{IMAGE_PREFIX}/*:{target.tag};"
        f" Redis {'at ' + redis if redis else 'not made yet'};"
        f" ALB listener {listener or 'not made yet'})"
    )
    upgrade(tools, target.values(redis, listener), final=bool(redis and listener))

    steps.step(f"ElastiCache's endpoint of {redis_group} (about 15 minutes the first time)")
    found_redis = wait_for(
        f"the primary endpoint of ElastiCache {redis_group}",
        lambda: redis_endpoint(elasticache, redis_group),
        timeout,
    )
    steps.step(
        f"the ALB listener of the Ingress group {INGRESS_GROUP} (a few minutes the first time)"
    )
    found_listener = wait_for(
        f"the ALB of the Ingress group {INGRESS_GROUP}",
        lambda: find_listener(elbv2, cluster.name, INGRESS_GROUP),
        timeout,
    )
    steps.step("helm upgrade with both, so API Gateway reaches the ALB")
    if (found_redis, found_listener) != (redis, listener):
        upgrade(tools, target.values(found_redis, found_listener), final=True)
    else:
        steps.note("nothing changed")
    api_name = component_name("api")
    steps.step(f"API Gateway {api_name}'s address, and sign-in allowed to come back to it")
    url = wait_for(f"API Gateway {api_name}", lambda: api_url(apigateway, api_name), timeout)
    allow_callback(session.client("cognito-idp"), target.identity, url)
    return url
