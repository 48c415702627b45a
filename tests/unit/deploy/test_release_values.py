"""The values `make deploy` releases the chart with (eksctl/deploy/release.py): accepted by the
chart's schema, and what they render is the store of the account it looked up."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.unit.chart.conftest import Release
from tests.unit.deploy.conftest import render

from deploy.aws import Account
from deploy.config import CHART, component_name, load_cluster
from deploy.identity import Identity
from deploy.lookups import Network
from deploy.release import INGRESS_GROUP, PENDING_REDIS, SECRETS, WITH_ROLES, Target

ACCOUNT = Account("123456789012", "aws", "eu-west-1")
IDENTITY = Identity("eu-west-1", "eu-west-1_AbCdEfGhI", "3n4b5urk1ft4fl3mg5e62d9ado", "emporium-1")
NETWORK = Network("vpc-0abc", "192.168.0.0/16", ["subnet-0a1b", "subnet-0c2d"], "sg-0c1d2e3f")
LISTENER = (
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/k8s-emporium-0a1b2c3d4e"
    "/50dc6c495c0c9188/f2f7dc8efc522ab2"
)
REDIS = "master.emporium-redis.abc123.euw1.cache.amazonaws.com:6379"


def released(helm: Path, tmp_path: Path, redis: str | None, listener: str | None) -> Release:
    target = Target(load_cluster(), ACCOUNT, IDENTITY, NETWORK, "0a1b2c3")
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(target.values(redis, listener)))
    return render(helm, "-f", str(values))


@pytest.mark.parametrize(("redis", "listener"), [(None, None), (REDIS, LISTENER)])
def test_both_passes_render(
    helm: Path, tmp_path: Path, redis: str | None, listener: str | None
) -> None:
    rendered = released(helm, tmp_path, redis, listener)
    catalog = rendered.get("ConfigMap", component_name("catalog"))["data"]
    assert catalog["REDIS_URL"] == (f"rediss://{REDIS}/0" if redis else PENDING_REDIS)
    assert bool(rendered.of_kind("Integration")) == bool(listener)
    # The seed Job waits for Redis: Helm would wait for it, and it cannot seed without Redis.
    assert bool(rendered.of_kind("Job")) == bool(redis)


def test_the_store_of_the_account(helm: Path, tmp_path: Path) -> None:
    rendered = released(helm, tmp_path, REDIS, LISTENER)
    for deployment in rendered.of_kind("Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"].startswith(f"{ACCOUNT.registry}/emporium/")
        assert container["image"].endswith(":0a1b2c3")
    cluster = load_cluster()
    for service in WITH_ROLES:
        account = rendered.get("ServiceAccount", component_name(service))
        role = cluster.role_name("emporium", component_name(service))
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == (
            f"arn:aws:iam::123456789012:role/{role}"
        )
    (integration,) = rendered.of_kind("Integration")
    assert integration["spec"]["integrationURI"] == LISTENER
    (link,) = rendered.of_kind("VPCLink")
    assert link["spec"]["subnetIDs"] == NETWORK.private_subnets
    (authorizer,) = rendered.of_kind("Authorizer")
    assert authorizer["spec"]["jwtConfiguration"]["issuer"] == IDENTITY.issuer
    assert authorizer["spec"]["jwtConfiguration"]["audience"] == [IDENTITY.client_id]
    ui = rendered.get("ConfigMap", component_name("ui"))["data"]
    assert ui["UI_OIDC_AUTHORIZE_URL"] == (
        "https://emporium-1.auth.eu-west-1.amazoncognito.com/oauth2/authorize"
    )


def test_the_secrets_and_the_ingress_group_are_those_of_values_eks() -> None:
    values = yaml.safe_load((CHART / "values-eks.yaml").read_text())
    named = {
        (s["existingSecret"], s["key"]) for s in values["secrets"].values() if isinstance(s, dict)
    }
    assert named == {(name, key) for name, keys in SECRETS.items() for key in keys}
    annotations = values["ingress"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/group.name"] == INGRESS_GROUP
