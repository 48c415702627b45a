"""The AWS resources (aws.enabled): valid against the ACK controllers' CRDs, strictly (an
unknown field fails), the tables as the services create them, the API Gateway routes from the
route table."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from tests.unit.chart.conftest import (
    ISSUER,
    LISTENER,
    REDIS_URL,
    ROOT,
    SETUPS,
    SIGN_IN,
    Release,
    name,
    strict,
    template,
    template_error,
    unavailable,
)

from cart.store import CartStore
from catalog.store import CatalogStore
from edge.route_table import load_routes
from fulfillment.store import FulfillmentStore
from orders.store import OrdersStore

AWS = SETUPS["eks"]  # values-eks.yaml declares the tables and the cache
GATEWAY = SETUPS["eks-with-api-gateway"]


def crds_dir() -> Path:
    """The CRDs beside the project's checkout (shared/crds), or $EMPORIUM_CRDS_DIR."""
    return Path(os.environ.get("EMPORIUM_CRDS_DIR") or ROOT.parent / "shared" / "crds")


@pytest.fixture(scope="module")
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict schema of that version of the CRD."""
    folder = crds_dir()
    if not folder.is_dir():
        unavailable(f"the CRDs are not at {folder} (set EMPORIUM_CRDS_DIR)")
    schemas = {}
    for path in folder.glob("*/*.yaml"):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                schemas[(f"{group}/{version['name']}", kind)] = strict(schema)
    return schemas


def ack_objects(release: Release) -> Iterator[dict[str, Any]]:
    for o in release.objects:
        if o["apiVersion"].split("/")[0].endswith(".services.k8s.aws"):
            yield o


@pytest.mark.parametrize("setup", ["tables-and-cache", "with-api-gateway"])
def test_every_ack_resource_is_valid_against_its_crd(
    helm: Path, crd_schemas: dict[tuple[str, str], dict[str, Any]], setup: str
) -> None:
    rendered = template(helm, *(AWS if setup == "tables-and-cache" else GATEWAY))
    objects = list(ack_objects(rendered))
    assert objects
    for o in objects:
        schema = crd_schemas.get((o["apiVersion"], o["kind"]))
        assert schema is not None, f"no CRD for {o['apiVersion']} {o['kind']}"
        jsonschema.validate(o, schema)  # raises, naming the path of the first error


def test_the_strict_schema_refuses_an_unknown_field(
    helm: Path, crd_schemas: dict[tuple[str, str], dict[str, Any]]
) -> None:
    table = template(helm, *AWS).get("Table", name("catalog"))
    table["spec"]["pointInTimeRecovery"] = True  # the CRD calls it continuousBackups
    with pytest.raises(jsonschema.ValidationError, match="pointInTimeRecovery"):
        jsonschema.validate(table, crd_schemas[(table["apiVersion"], "Table")])


class RecordingClient:
    """Stands in for boto3's DynamoDB client: keeps what create_table would ask AWS for."""

    def __init__(self) -> None:
        self.requests: dict[str, Any] = {}

    def create_table(self, **request: Any) -> None:
        self.requests["create_table"] = request

    def get_waiter(self, name: str) -> RecordingClient:
        return self

    def wait(self, **kwargs: Any) -> None:
        return None

    def describe_time_to_live(self, **kwargs: Any) -> dict[str, Any]:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}

    def update_time_to_live(self, **request: Any) -> None:
        self.requests["update_time_to_live"] = request


STORES: dict[str, Callable[[RecordingClient, str], Any]] = {
    "catalog": lambda client, table: CatalogStore(lambda: client, table),
    "cart": lambda client, table: CartStore(lambda: client, table, ttl_seconds=60, max_lines=50),
    "orders": lambda client, table: OrdersStore(lambda: client, table),
    "fulfillment": lambda client, table: FulfillmentStore(lambda: client, table),
}


def as_the_service_creates_it(service: str, table: str) -> dict[str, Any]:
    """The Table spec that matches the service's own create_table, in ACK's field names."""
    client = RecordingClient()
    STORES[service](client, table).create_table()
    request = client.requests["create_table"]
    spec: dict[str, Any] = {
        "tableName": table,
        "billingMode": request["BillingMode"],
        "attributeDefinitions": [
            {"attributeName": a["AttributeName"], "attributeType": a["AttributeType"]}
            for a in request["AttributeDefinitions"]
        ],
        "keySchema": [
            {"attributeName": k["AttributeName"], "keyType": k["KeyType"]}
            for k in request["KeySchema"]
        ],
    }
    indexes = [
        {
            "indexName": index["IndexName"],
            "keySchema": [
                {"attributeName": k["AttributeName"], "keyType": k["KeyType"]}
                for k in index["KeySchema"]
            ],
            "projection": {"projectionType": index["Projection"]["ProjectionType"]},
        }
        for index in request.get("GlobalSecondaryIndexes", [])
    ]
    if indexes:
        spec["globalSecondaryIndexes"] = sorted(indexes, key=lambda index: index["indexName"])
    ttl = client.requests.get("update_time_to_live")
    if ttl:
        spec["timeToLive"] = {
            "attributeName": ttl["TimeToLiveSpecification"]["AttributeName"],
            "enabled": ttl["TimeToLiveSpecification"]["Enabled"],
        }
    return spec


@pytest.mark.parametrize("service", sorted(STORES))
def test_each_table_is_the_one_its_service_creates(helm: Path, service: str) -> None:
    table_name = f"emporium-{service}-prod"
    rendered = template(helm, *AWS, f"--set={service}.table={table_name}")
    spec = rendered.get("Table", name(service))["spec"]
    expected = as_the_service_creates_it(service, table_name)
    assert {key: spec.get(key) for key in expected} == expected
    for optional in ("globalSecondaryIndexes", "timeToLive"):  # none the service lacks
        assert (optional in spec) == (optional in expected), optional
    assert spec["continuousBackups"] == {"pointInTimeRecoveryEnabled": True}
    assert spec["deletionProtectionEnabled"] is True
    assert spec["sseSpecification"]["enabled"] is True


def test_protected_tables_stay_in_aws_when_the_release_goes(helm: Path) -> None:
    table = template(helm, *AWS).get("Table", name("orders"))
    assert table["metadata"]["annotations"]["services.k8s.aws/deletion-policy"] == "retain"
    unprotected = template(helm, *AWS, "--set=aws.dynamodb.deletionProtection=false")
    assert "annotations" not in unprotected.get("Table", name("orders"))["metadata"]


def test_the_cache_speaks_tls_with_the_auth_token_of_the_users_secret(helm: Path) -> None:
    rendered = template(helm, *AWS)
    group = rendered.get("ReplicationGroup", name("redis"))["spec"]
    assert group["transitEncryptionEnabled"] is True  # the services' rediss://
    assert group["atRestEncryptionEnabled"] is True
    assert group["authToken"] == {
        "name": "emporium-redis",
        "key": "authToken",
        "namespace": "store",
    }
    assert group["automaticFailoverEnabled"] is True
    assert group["cacheSubnetGroupRef"] == {"from": {"name": name("redis")}}
    assert rendered.get("CacheSubnetGroup", name("redis"))["spec"]["subnetIDs"] == [
        "subnet-0a1b2c3d",
        "subnet-0e1f2a3b",
    ]
    assert REDIS_URL.startswith("rediss://")


def test_api_gateway_waits_for_the_albs_listener(helm: Path) -> None:
    rendered = template(helm, *AWS)
    assert not [o for o in ack_objects(rendered) if o["apiVersion"].startswith("apigatewayv2")]


def test_api_gateway_routes_come_from_the_route_table(helm: Path) -> None:
    rendered = template(helm, *GATEWAY)
    routes = {r["spec"]["routeKey"]: r["spec"] for r in rendered.of_kind("Route")}
    expected = set()
    for route in load_routes():
        if route.prefix == "/":
            expected.add("$default")
        else:
            expected |= {f"ANY {route.prefix[:-1]}", f"ANY {route.prefix}{{proxy+}}"}
    assert set(routes) == expected
    api = name("api")
    for key, spec in routes.items():
        assert spec["apiRef"] == {"from": {"name": api}}
        assert spec["targetRef"] == {"from": {"name": api}}  # the one integration
        signed_in = key.startswith("ANY /api/orders")
        assert spec["authorizationType"] == ("JWT" if signed_in else "NONE"), key
        assert ("authorizerRef" in spec) == signed_in, key


def test_the_integration_reaches_the_alb_over_the_vpc_link(helm: Path) -> None:
    rendered = template(helm, *GATEWAY)
    integration = rendered.get("Integration", name("api"))["spec"]
    assert integration["integrationType"] == "HTTP_PROXY"
    assert integration["integrationURI"] == LISTENER
    assert integration["connectionType"] == "VPC_LINK"
    assert integration["connectionRef"] == {"from": {"name": name("api")}}
    authorizer = rendered.get("Authorizer", name("api"))["spec"]
    assert authorizer["jwtConfiguration"]["issuer"] == ISSUER
    stage = rendered.get("Stage", name("api"))["spec"]
    assert stage["stageName"] == "$default"
    assert stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] > 0
    assert stage["accessLogSettings"]["destinationARN"].startswith("arn:aws:logs:")


def test_missing_aws_values_fail_and_name_them(helm: Path) -> None:
    without_subnets = ["-f", AWS[1], AWS[2], *SIGN_IN]  # values-eks.yaml, redis.url, sign-in
    message = template_error(helm, *without_subnets)
    assert "aws.elasticache.subnetIds is required" in message
    message = template_error(helm, *AWS, f"--set=aws.apiGateway.albListenerArn={LISTENER}")
    assert "aws.apiGateway.subnetIds is required" in message
    without_issuer = [a for a in GATEWAY if "oidc" not in a]
    assert "orders.oidc.issuer is required" in template_error(helm, *without_issuer)
    message = template_error(helm, *GATEWAY, "--set=aws.apiGateway.signedInServices={basket}")
    assert "basket is not a service of files/routes.json" in message


def test_api_gateway_refuses_to_go_without_access_logs(helm: Path) -> None:
    without_logs = [a for a in GATEWAY if "accessLogArn" not in a]
    assert without_logs != GATEWAY
    lines = [line for line in template_error(helm, *without_logs).splitlines() if line]
    # One line that names the value and says what it is (helm adds a hint about --debug).
    (line,) = [line for line in lines if "accessLogArn" in line]
    assert "aws.apiGateway.accessLogArn is required" in line
    assert "CloudWatch Logs log group" in line
    # Nothing of API Gateway without the listener: the first install needs no log group yet.
    assert not template(helm, *AWS).of_kind("Stage")
