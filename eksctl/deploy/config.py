"""What the deploy commands share: where the files are, the names the chart renders, and the
cluster eksctl/cluster.yaml describes (its name, region and IRSA roles are read from there)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from deploy.steps import DeployError

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_FILE = ROOT / "eksctl" / "cluster.yaml"
CHART = ROOT / "charts" / "emporium"

# The release of the store and its namespace: the chart names every object
# "<release>-<component>" (the release's name contains the chart's), so catalog's
# ServiceAccount is "emporium-catalog", as cluster.yaml's IRSA roles expect.
RELEASE = "emporium"
NAMESPACE = "emporium"
# The namespace of the AWS Load Balancer Controller and the ACK controllers.
CONTROLLERS_NAMESPACE = "aws-controllers"

# The images that run on EKS (Redis and the DynamoDB emulator are for kind and the tests), as
# `make images` tags them: emporium/<name>:<git short sha>.
SERVICES = ("catalog", "cart", "orders", "fulfillment", "ui", "edge")
# What `make push` sends to ECR: the services and the load generator (the chart's load Job,
# off by default, takes its image from the same registry and tag).
PUSHED_IMAGES = (*SERVICES, "load")
IMAGE_PREFIX = "emporium"


def component_name(component: str) -> str:
    """The name of a component's objects (Deployment, ServiceAccount, ...) in the release."""
    return f"{RELEASE}-{component}"


@dataclass(frozen=True)
class Cluster:
    """The cluster of eksctl/cluster.yaml."""

    name: str
    region: str
    # (namespace, ServiceAccount) -> the name of its IAM role
    roles: dict[tuple[str, str], str]

    def role_name(self, namespace: str, service_account: str) -> str:
        try:
            return self.roles[(namespace, service_account)]
        except KeyError:
            raise DeployError(
                f"{CLUSTER_FILE.name} has no IRSA role for {namespace}/{service_account}"
            ) from None


def load_cluster(path: Path = CLUSTER_FILE) -> Cluster:
    try:
        config: dict[str, Any] = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise DeployError(f"cannot read {path}: {error}") from error
    roles = {}
    for account in config.get("iam", {}).get("serviceAccounts", []):
        meta = account["metadata"]
        roles[(meta["namespace"], meta["name"])] = account["roleName"]
    return Cluster(config["metadata"]["name"], config["metadata"]["region"], roles)
