"""`make teardown-aws`: what stays in the account after `make cluster-delete`, on purpose, deleted
once you say so: the chart's DynamoDB tables (deletion protection on, and the store's data in
them), the ECR repositories of `make push` (and their images), the Cognito user pool and
hosted sign-in domain of `make identity`, and the CloudWatch log groups of the control plane and
of API Gateway's access log (`make deploy`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from deploy.aws import Account
from deploy.config import CHART, IMAGE_PREFIX, PUSHED_IMAGES, SERVICES, Cluster
from deploy.identity import POOL_NAME, domain_prefix, find_pool
from deploy.release import access_log_group
from deploy.steps import DeployError, Steps

if TYPE_CHECKING:
    import boto3


def table_names() -> list[str]:
    """The tables the chart declares (<service>.table in its values.yaml)."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return [values[s]["table"] for s in SERVICES if "table" in values.get(s, {})]


def log_group_names(cluster: Cluster) -> list[str]:
    """Where EKS writes the control plane's logs (cluster.yaml's cloudWatch.clusterLogging),
    and API Gateway the store's access log."""
    return [f"/aws/eks/{cluster.name}/cluster", access_log_group(cluster)]


@dataclass(frozen=True)
class Leftovers:
    tables: list[str]
    repositories: list[str]
    pool_id: str | None
    domain: str | None  # the hosted sign-in domain, when it is the pool's
    log_groups: list[str]

    def lines(self) -> list[str]:
        lines = [f"DynamoDB table {name} (and its items)" for name in self.tables]
        lines += [f"ECR repository {name} (and its images)" for name in self.repositories]
        if self.domain:
            lines.append(f"Cognito domain {self.domain}")
        if self.pool_id:
            lines.append(f"Cognito user pool {POOL_NAME} ({self.pool_id}) and its users")
        lines += [f"CloudWatch log group {name}" for name in self.log_groups]
        return lines


def find_leftovers(session: boto3.Session, cluster: Cluster, account: Account) -> Leftovers:
    dynamodb = session.client("dynamodb")
    tables = []
    for name in table_names():
        try:
            dynamodb.describe_table(TableName=name)
            tables.append(name)
        except dynamodb.exceptions.ResourceNotFoundException:
            pass
    ecr = session.client("ecr")
    repositories = []
    for image in PUSHED_IMAGES:
        name = f"{IMAGE_PREFIX}/{image}"
        try:
            ecr.describe_repositories(repositoryNames=[name])
            repositories.append(name)
        except ecr.exceptions.RepositoryNotFoundException:
            pass
    cognito = session.client("cognito-idp")
    pool_id = find_pool(cognito, POOL_NAME)
    domain = domain_prefix(account.id)
    owner = cognito.describe_user_pool_domain(Domain=domain)["DomainDescription"].get("UserPoolId")
    logs = session.client("logs")
    groups = [
        name
        for name in log_group_names(cluster)
        if any(
            found.get("logGroupName") == name
            for found in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        )
    ]
    return Leftovers(
        tables, repositories, pool_id, domain if pool_id and owner == pool_id else None, groups
    )


def teardown(
    session: boto3.Session, cluster: Cluster, account: Account, answer: Callable[[str], str]
) -> None:
    """Delete the leftovers once `answer` (asked the question) gives the cluster's name."""
    steps = Steps("teardown", 7)
    steps.step(f"the cluster {cluster.name} is gone")
    eks = session.client("eks")
    try:
        eks.describe_cluster(name=cluster.name)
    except eks.exceptions.ResourceNotFoundException:
        pass
    else:
        # Its ACK controllers would make the tables again, and the control plane its log group.
        raise DeployError(
            f"the cluster {cluster.name} still exists: run `make cluster-delete` first"
        )

    steps.step(f"what stays in {account.id} ({account.region})")
    found = find_leftovers(session, cluster, account)
    if not found.lines():
        steps.note("nothing to delete")
        return
    for line in found.lines():
        steps.note(f"  {line}")

    steps.step("confirm: this deletes all of the above, the store's data with the tables")
    if answer(f"Type the cluster's name ({cluster.name}) to delete them: ") != cluster.name:
        raise DeployError("not confirmed: nothing deleted")

    steps.step("the DynamoDB tables: deletion protection off, then deleted")
    dynamodb = session.client("dynamodb")
    for name in found.tables:
        dynamodb.update_table(TableName=name, DeletionProtectionEnabled=False)
        dynamodb.delete_table(TableName=name)
        steps.note(f"deleted {name}")

    steps.step("the ECR repositories, with their images")
    ecr = session.client("ecr")
    for name in found.repositories:
        ecr.delete_repository(repositoryName=name, force=True)
        steps.note(f"deleted {name}")

    steps.step("the Cognito domain, then the user pool")
    cognito = session.client("cognito-idp")
    if found.pool_id and found.domain:
        cognito.delete_user_pool_domain(Domain=found.domain, UserPoolId=found.pool_id)
        steps.note(f"deleted {found.domain}")
    if found.pool_id:
        cognito.delete_user_pool(UserPoolId=found.pool_id)
        steps.note(f"deleted {found.pool_id}")

    steps.step("the CloudWatch log groups of the control plane and of API Gateway")
    for name in found.log_groups:
        session.client("logs").delete_log_group(logGroupName=name)
        steps.note(f"deleted {name}")
