"""What `make deploy` and `make controllers` look up in the account: the cluster's network, the
ALB that the AWS Load Balancer Controller made for the Ingress, ElastiCache's endpoint and API
Gateway's address. Each returns None (or raises DeployError) when the thing is not there yet."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from deploy.steps import DeployError, say

if TYPE_CHECKING:
    from mypy_boto3_apigatewayv2 import ApiGatewayV2Client
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_eks import EKSClient
    from mypy_boto3_elasticache import ElastiCacheClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

T = TypeVar("T")

# The tags the AWS Load Balancer Controller puts on what it makes: the cluster, and the stack:
# an Ingress group's name (annotation alb.ingress.kubernetes.io/group.name), or
# "<namespace>/<ingress>" for an Ingress of no group.
CLUSTER_TAG = "elbv2.k8s.aws/cluster"
STACK_TAG = "ingress.k8s.aws/stack"
# eksctl tags its private subnets for internal load balancers.
INTERNAL_ELB_TAG = "kubernetes.io/role/internal-elb"


@dataclass(frozen=True)
class Network:
    vpc_id: str
    vpc_cidr: str
    private_subnets: list[str]
    # The cluster security group: Fargate pods carry it, and it lets in all of its members.
    cluster_security_group: str


def cluster_network(eks: EKSClient, ec2: EC2Client, cluster: str) -> Network:
    try:
        config = eks.describe_cluster(name=cluster)["cluster"]["resourcesVpcConfig"]
    except eks.exceptions.ResourceNotFoundException:
        raise DeployError(f"no EKS cluster {cluster} here: run `make cluster` first") from None
    subnets = ec2.describe_subnets(SubnetIds=config.get("subnetIds", []))["Subnets"]
    if not subnets:
        raise DeployError(f"the EKS cluster {cluster} has no subnets")
    private = sorted(
        subnet["SubnetId"]
        for subnet in subnets
        if any(tag["Key"] == INTERNAL_ELB_TAG for tag in subnet.get("Tags", []))
    )
    if not private:
        raise DeployError(
            f"the subnets of {cluster} have no {INTERNAL_ELB_TAG} tag: no private ones"
        )
    vpc_id = config.get("vpcId") or subnets[0]["VpcId"]
    cidr = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    # The security group EKS made for the cluster (Fargate pods carry it); for a cluster made
    # without one, its first additional group.
    group = config.get("clusterSecurityGroupId") or next(
        iter(config.get("securityGroupIds", [])), ""
    )
    if not group:
        raise DeployError(f"the EKS cluster {cluster} has no security group")
    return Network(vpc_id, cidr, private, group)


def find_listener(
    elbv2: ElasticLoadBalancingv2Client, cluster: str, group: str, port: int = 80
) -> str | None:
    """The ARN of the listener on `port` of the ALB of the Ingress group `group`, among every
    load balancer of the account and region; None while there is none."""
    arns = [
        balancer["LoadBalancerArn"]
        for page in elbv2.get_paginator("describe_load_balancers").paginate()
        for balancer in page["LoadBalancers"]
    ]
    wanted = {CLUSTER_TAG: cluster, STACK_TAG: group}
    matching = []
    for start in range(0, len(arns), 20):  # DescribeTags takes at most 20 ARNs
        for description in elbv2.describe_tags(ResourceArns=arns[start : start + 20])[
            "TagDescriptions"
        ]:
            tags = {tag["Key"]: tag.get("Value") for tag in description.get("Tags", [])}
            if all(tags.get(key) == value for key, value in wanted.items()):
                matching.append(description["ResourceArn"])
    if not matching:
        return None
    if len(matching) > 1:
        raise DeployError(f"{len(matching)} load balancers are tagged {wanted}: {matching}")
    listeners = elbv2.describe_listeners(LoadBalancerArn=matching[0])["Listeners"]
    for listener in listeners:
        if listener.get("Port") == port:
            return listener["ListenerArn"]
    return None


def redis_endpoint(elasticache: ElastiCacheClient, group_id: str) -> str | None:
    """The primary endpoint of the replication group, once ElastiCache has made it."""
    try:
        groups = elasticache.describe_replication_groups(ReplicationGroupId=group_id)
    except elasticache.exceptions.ReplicationGroupNotFoundFault:
        return None
    for node_group in groups["ReplicationGroups"][0].get("NodeGroups", []):
        endpoint = node_group.get("PrimaryEndpoint", {})
        if endpoint.get("Address"):
            return f"{endpoint['Address']}:{endpoint.get('Port', 6379)}"
    return None


def api_url(apigateway: ApiGatewayV2Client, name: str) -> str | None:
    """The address of the HTTP API named `name` (made by the ACK controller from the chart)."""
    token = ""
    while True:
        page = apigateway.get_apis(NextToken=token) if token else apigateway.get_apis()
        for api in page.get("Items", []):
            if api.get("Name") == name and api.get("ApiEndpoint"):
                return api["ApiEndpoint"]
        token = page.get("NextToken", "")
        if not token:
            return None


def wait_for(what: str, look: Callable[[], T | None], timeout: float, every: float = 15) -> T:
    """Call `look` until it finds something; DeployError after `timeout` seconds."""
    started = time.monotonic()
    while True:
        found = look()
        if found is not None:
            return found
        waited = time.monotonic() - started
        if waited >= timeout:
            raise DeployError(
                f"{what}: not there after {waited:.0f} s; run the command again later"
            )
        say(f"  waiting for {what} ({waited:.0f} s)")
        time.sleep(every)
