"""eksctl/cluster.yaml: valid for eksctl, Fargate only, and each IRSA role fits the release the
chart renders: the ServiceAccounts it makes and the one table (and indexes) of each service."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from tests.unit.chart.conftest import SIGN_IN
from tests.unit.deploy.conftest import load_schema, render

from deploy import release
from deploy.config import CONTROLLERS_NAMESPACE, NAMESPACE, component_name, load_cluster

SUBNETS = "{subnet-0a1b2c3d,subnet-0e1f2a3b}"
EKS = [
    "--set=redis.url=rediss://master.emporium.abc123.euw1.cache.amazonaws.com:6379/0",
    f"--set=aws.elasticache.subnetIds={SUBNETS}",
    *SIGN_IN,
]
TABLE_ARN = "arn:aws:dynamodb:*:${aws:PrincipalAccount}:table/"
# What a service may do to its own table: items, never the table itself.
ITEM_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
}


def service_accounts(config: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (account["metadata"]["namespace"], account["metadata"]["name"]): account
        for account in config["iam"]["serviceAccounts"]
    }


def test_the_file_is_valid_against_eksctls_schema(cluster_config: dict[str, Any]) -> None:
    schema = load_schema("eksctl/clusterconfig-v1alpha5.schema.json")
    jsonschema.Draft7Validator(schema).validate(cluster_config)


def test_the_schema_refuses_a_misspelt_field(cluster_config: dict[str, Any]) -> None:
    schema = load_schema("eksctl/clusterconfig-v1alpha5.schema.json")
    broken = {**cluster_config, "fargateProfile": cluster_config["fargateProfiles"]}
    with pytest.raises(jsonschema.ValidationError, match="fargateProfile"):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_fargate_only_with_irsa_and_no_pod_identity(cluster_config: dict[str, Any]) -> None:
    assert not cluster_config.get("nodeGroups")
    assert not cluster_config.get("managedNodeGroups")
    assert cluster_config["iam"]["withOIDC"] is True
    assert not cluster_config["iam"].get("podIdentityAssociations")  # not on Fargate
    profiles = {
        selector["namespace"]
        for profile in cluster_config["fargateProfiles"]
        for selector in profile["selectors"]
    }
    assert profiles == {"kube-system", NAMESPACE, CONTROLLERS_NAMESPACE}
    # Every ServiceAccount with a role lives where a Fargate profile runs its pods.
    assert {namespace for namespace, _ in service_accounts(cluster_config)} <= profiles


def test_add_ons_and_control_plane_logs(cluster_config: dict[str, Any]) -> None:
    addons = {addon["name"]: addon for addon in cluster_config["addons"]}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy"}
    # With no nodes, CoreDNS has to be told to run on Fargate.
    assert '"computeType": "Fargate"' in addons["coredns"]["configurationValues"]
    logging = cluster_config["cloudWatch"]["clusterLogging"]
    assert set(logging["enableTypes"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }
    assert logging["logRetentionInDays"] > 0


def test_every_role_is_made_for_a_service_account_the_charts_make(
    cluster_config: dict[str, Any],
) -> None:
    # roleOnly: eksctl makes no ServiceAccount (the charts do, with the role's ARN), and the
    # role's name is fixed, so `make deploy` and `make controllers` can name its ARN.
    for key, account in service_accounts(cluster_config).items():
        assert account.get("roleOnly") is True, key
        assert account.get("roleName"), key


def test_each_service_role_reaches_its_own_table_and_indexes_only(
    helm: Path, cluster_config: dict[str, Any]
) -> None:
    rendered = render(helm, *EKS)
    accounts = service_accounts(cluster_config)
    store_roles = {name for namespace, name in accounts if namespace == NAMESPACE}
    tables = {t["spec"]["tableName"]: t for t in rendered.of_kind("Table")}
    with_tables = set()
    for account in rendered.of_kind("ServiceAccount"):
        name = account["metadata"]["name"]
        assert account["metadata"]["namespace"] == NAMESPACE
        settings = rendered.get("ConfigMap", name)["data"]
        table = next((v for k, v in settings.items() if k.endswith("_TABLE")), None)
        if table is None:
            assert name not in store_roles, f"{name} calls no AWS API: it needs no role"
            continue
        with_tables.add(name)
        assert name in store_roles, f"{name} uses the table {table} but has no IRSA role"
        statements = accounts[(NAMESPACE, name)]["attachPolicy"]["Statement"]
        resources = {r for s in statements for r in s["Resource"]}
        actions = {a for s in statements for a in s["Action"]}
        indexes = [
            index["indexName"] for index in tables.get(table, {}).get("spec", {}).get(
                "globalSecondaryIndexes", []
            )
        ]  # fmt: skip
        assert resources == {
            TABLE_ARN + table,
            *(f"{TABLE_ARN}{table}/index/{index}" for index in indexes),
        }, name
        assert actions <= ITEM_ACTIONS, f"{name}: {actions - ITEM_ACTIONS}"
        assert all(s["Effect"] == "Allow" for s in statements)
    assert with_tables == store_roles
    assert with_tables == {component_name(s) for s in release.WITH_ROLES}


def test_the_release_renders_the_role_of_each_service_on_its_service_account(
    helm: Path,
) -> None:
    cluster = load_cluster()
    arns = [
        f"--set={s}.serviceAccount.roleArn=arn:aws:iam::123456789012:role/"
        + cluster.role_name(NAMESPACE, component_name(s))
        for s in release.WITH_ROLES
    ]
    rendered = render(helm, *EKS, *arns)
    for service in release.WITH_ROLES:
        account = rendered.get("ServiceAccount", component_name(service))
        assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
            "role/" + cluster.role_name(NAMESPACE, component_name(service))
        )


def test_the_controllers_have_their_roles(cluster_config: dict[str, Any]) -> None:
    accounts = service_accounts(cluster_config)
    balancer = accounts[(CONTROLLERS_NAMESPACE, release.LOAD_BALANCER_CONTROLLER[1])]
    assert balancer["wellKnownPolicies"] == {"awsLoadBalancerController": True}
    for service in release.ACK_CONTROLLERS:
        assert accounts[(CONTROLLERS_NAMESPACE, f"ack-{service}-controller")]["attachPolicyARNs"]


def test_the_makefile_takes_the_name_and_region_from_the_file(
    cluster_config: dict[str, Any],
) -> None:
    cluster = load_cluster()
    assert (cluster.name, cluster.region) == (
        cluster_config["metadata"]["name"],
        cluster_config["metadata"]["region"],
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    root = Path(__file__).resolve().parents[3]
    planned = subprocess.run(
        ["make", "-n", "cluster"], cwd=root, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert f"AWS_REGION={cluster.region} PYTHONPATH=eksctl" in planned
    assert f"(cluster {cluster.name})" in planned
    assert "create cluster -f eksctl/cluster.yaml" in planned
