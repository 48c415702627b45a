"""A boto3 session for the cluster's account and region, and AWS errors said in one line."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import botocore.exceptions

from deploy.config import CLUSTER_FILE, Cluster
from deploy.steps import DeployError

CREDENTIALS_HINT = (
    "set AWS_PROFILE (after `aws configure` or `aws sso login`), or AWS_ACCESS_KEY_ID and"
    " AWS_SECRET_ACCESS_KEY"
)


def session_for(cluster: Cluster) -> boto3.Session:
    """The SDK's own credential chain and region, checked before any call: the region must be
    the cluster's (the Makefile sets AWS_REGION from eksctl/cluster.yaml)."""
    # AWS_REGION as the other SDKs and the services read it; boto3 itself reads only
    # AWS_DEFAULT_REGION (and the profile's region).
    session = boto3.Session(region_name=os.environ.get("AWS_REGION") or None)
    if not session.region_name:
        raise DeployError(
            f"no AWS region: set AWS_REGION (eksctl/cluster.yaml's cluster is in {cluster.region})"
        )
    if session.region_name != cluster.region:
        raise DeployError(
            f"AWS_REGION is {session.region_name}, but the cluster of {CLUSTER_FILE.name} is in"
            f" {cluster.region}: change one of them"
        )
    if session.get_credentials() is None:
        raise DeployError(f"no AWS credentials: {CREDENTIALS_HINT}")
    return session


@dataclass(frozen=True)
class Account:
    """Who the credentials are (STS), and the names that follow from it."""

    id: str
    partition: str
    region: str

    @property
    def registry(self) -> str:
        suffix = "amazonaws.com.cn" if self.partition == "aws-cn" else "amazonaws.com"
        return f"{self.id}.dkr.ecr.{self.region}.{suffix}"

    def role_arn(self, role_name: str) -> str:
        return f"arn:{self.partition}:iam::{self.id}:role/{role_name}"


def account_of(session: boto3.Session) -> Account:
    identity = session.client("sts").get_caller_identity()
    partition = identity["Arn"].split(":")[1]
    return Account(identity["Account"], partition, str(session.region_name))


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """botocore's exceptions as a DeployError of one line."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError as error:
        raise DeployError(f"no AWS credentials: {CREDENTIALS_HINT}") from error
    except botocore.exceptions.NoRegionError as error:
        raise DeployError("no AWS region: set AWS_REGION") from error
    except botocore.exceptions.ClientError as error:
        details = error.response.get("Error", {})
        operation = error.operation_name
        raise DeployError(
            f"AWS refused {operation}: {details.get('Code', '?')}: {details.get('Message', error)}"
        ) from error
    except botocore.exceptions.BotoCoreError as error:
        raise DeployError(f"AWS call failed: {error}") from error
