"""The environment the chart gives each service is one the service starts with: its own
settings classes and gunicorn's configuration read it as they do in the pod, and every URL in it
names a Service of the release."""

from __future__ import annotations

import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.unit.chart.conftest import SECRET_VALUES, SETUPS, Release, name, template

from cart.app import CartSettings
from catalog.app import CatalogSettings
from edge.app import EdgeSettings
from edge.route_table import load_routes
from emporium.config import Env, ServiceSettings
from fulfillment.app import FulfillmentSettings
from orders.app import OrdersSettings

SETTINGS: dict[str, Callable[[dict[str, str]], Any]] = {
    "catalog": CatalogSettings.from_env,
    "cart": CartSettings.from_env,
    "orders": OrdersSettings.from_env,
    "fulfillment": FulfillmentSettings.from_env,
    "ui": lambda environ: ServiceSettings.from_env(Env("", environ)),
    "edge": EdgeSettings.from_env,
}
USERS_SECRET = "a-secret-from-the-users-own-secret-store"
# Addresses the browser opens, or names that are compared, not fetched from inside the cluster.
BROWSER_FACING = {"ORDERS_OIDC_ISSUER", "UI_OIDC_AUTHORIZE_URL", "UI_OIDC_TOKEN_URL"}


# EKS runs no edge: the ALB and API Gateway route.
RUNNING = [
    (setup, s) for setup in ("kind", "eks") for s in SETTINGS if (setup, s) != ("eks", "edge")
]


@pytest.fixture(scope="module")
def releases(helm: Path) -> dict[str, Release]:
    return {setup: template(helm, *SETUPS[setup]) for setup in ("kind", "eks")}


@pytest.fixture(scope="module", params=["kind", "eks"])
def release(request: pytest.FixtureRequest, releases: dict[str, Release]) -> Release:
    return releases[request.param]


def pod_environment(release: Release, service: str) -> dict[str, str]:
    """What the service's container sees: its ConfigMap, then its secrets."""
    deployment = release.get("Deployment", name(service))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    environ: dict[str, str] = {}
    for source in container["envFrom"]:
        environ.update(release.get("ConfigMap", source["configMapRef"]["name"])["data"])
    for variable in container.get("env", []):
        ref = variable["valueFrom"]["secretKeyRef"]
        environ[variable["name"]] = SECRET_VALUES.get(ref["key"], USERS_SECRET)
    return environ


@pytest.mark.parametrize(("setup", "service"), RUNNING)
def test_the_service_accepts_its_environment(
    releases: dict[str, Release], setup: str, service: str
) -> None:
    SETTINGS[service](
        pod_environment(releases[setup], service)
    )  # a ConfigError would fail the test


@pytest.mark.parametrize(("setup", "service"), RUNNING)
def test_gunicorn_accepts_its_environment(
    releases: dict[str, Release], setup: str, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    environ = pod_environment(releases[setup], service)
    for variable, value in environ.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/tmp/prometheus-metrics")  # noqa: S108 - the image's
    config = runpy.run_module("emporium.gunicorn_conf")
    assert config["bind"] == ["0.0.0.0:8080", "0.0.0.0:9090"]  # the container's two ports
    assert config["workers"] == int(environ["WEB_CONCURRENCY"])
    assert config["graceful_timeout"] == int(environ["GRACEFUL_TIMEOUT"])


def test_every_url_between_services_names_a_service_of_the_release(release: Release) -> None:
    services = {
        s["metadata"]["name"]: {port["port"] for port in s["spec"]["ports"]}
        for s in release.of_kind("Service")
    }
    for config_map in release.of_kind("ConfigMap"):
        for variable, value in config_map["data"].items():
            if not (variable.endswith("_URL") or variable.startswith("EDGE_UPSTREAM_")):
                continue
            if variable in BROWSER_FACING:
                continue  # the browser's, through a port-forward (test_dev_issuer.py)
            url = urlsplit(value)
            if url.hostname and "." in url.hostname:
                continue  # outside the release (ElastiCache, an OpenID issuer)
            assert url.hostname in services, f"{variable}={value}"
            assert url.port in services[url.hostname], f"{variable}={value}"


def test_the_edge_has_an_upstream_for_every_route(helm: Path) -> None:
    environ = pod_environment(template(helm, *SETUPS["kind"]), "edge")
    settings = EdgeSettings.from_env(environ)
    assert {route.service for route in load_routes()} == set(settings.upstreams)
    for route in load_routes():
        assert settings.upstreams[route.service] == f"http://{name(route.service)}:8080"


def test_local_stand_ins_serve_dynamodb_and_redis_on_kind_only(helm: Path) -> None:
    kind = template(helm, *SETUPS["kind"])
    catalog = kind.config("catalog")
    assert catalog["AWS_ENDPOINT_URL_DYNAMODB"] == f"http://{name('dynamodb')}:8000"
    assert catalog["REDIS_URL"] == f"redis://{name('redis')}:6379/0"
    assert catalog["DYNAMODB_CREATE_TABLES"] == "true"
    assert kind.has("Service", name("dynamodb"))
    assert kind.has("Service", name("redis"))

    eks = template(helm, *SETUPS["eks"])
    catalog = eks.config("catalog")
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in catalog  # Amazon DynamoDB
    assert "AWS_ACCESS_KEY_ID" not in catalog  # IRSA's credentials, never static ones
    assert catalog["REDIS_URL"].startswith("rediss://")
    assert catalog["DYNAMODB_CREATE_TABLES"] == "false"
    assert not eks.has("Deployment", name("redis"))
    assert not eks.has("Deployment", name("dynamodb"))


def test_each_service_gets_only_the_stores_and_secrets_it_uses(helm: Path) -> None:
    kind = template(helm, *SETUPS["kind"])
    uses_redis = {s for s in SETTINGS if "REDIS_URL" in kind.config(s)}
    uses_dynamodb = {s for s in SETTINGS if "AWS_REGION" in kind.config(s)}
    assert uses_redis == {"catalog", "orders", "fulfillment"}
    assert uses_dynamodb == {"catalog", "cart", "orders", "fulfillment"}
    secrets = {
        s: sorted(v["name"] for v in pod_spec(kind, s)["containers"][0].get("env", []))
        for s in SETTINGS
    }
    assert secrets == {
        "catalog": ["CATALOG_ADMIN_TOKEN", "CATALOG_HMAC_KEY"],
        "cart": [],
        "orders": ["ORDERS_HMAC_KEY", "ORDERS_INTERNAL_TOKEN"],
        "fulfillment": ["FULFILLMENT_ORDERS_TOKEN"],
        "ui": [],
        "edge": [],
    }
    # On EKS the Redis AUTH token reaches the services that use Redis, and only them.
    eks = template(helm, *SETUPS["eks"])
    with_token = {
        s
        for s in SETTINGS
        if eks.has("Deployment", name(s))
        and "REDIS_AUTH_TOKEN"
        in {v["name"] for v in pod_spec(eks, s)["containers"][0].get("env", [])}
    }
    assert with_token == {"catalog", "orders", "fulfillment"}


def pod_spec(release: Release, service: str) -> dict[str, Any]:
    spec: dict[str, Any] = release.get("Deployment", name(service))["spec"]["template"]["spec"]
    return spec


def test_fulfillment_runs_one_worker_and_exposes_only_metrics(helm: Path) -> None:
    kind = template(helm, *SETUPS["kind"])
    assert kind.config("fulfillment")["WEB_CONCURRENCY"] == "1"
    service = kind.get("Service", name("fulfillment"))
    assert [port["name"] for port in service["spec"]["ports"]] == ["metrics"]


def test_settings_and_extra_variables_reach_the_config_map(helm: Path) -> None:
    rendered = template(
        helm,
        *SETUPS["kind"],
        "--set=catalog.env.CATALOG_CACHE_TTL_SECONDS=60",
        "--set=orders.oidc.issuer=https://issuer.example.com,orders.oidc.audience=emporium",
        "--set=ui.oidc.clientId=emporium-ui",
        "--set=settings.otlpEndpoint=http://collector.observability:4318",
    )
    assert rendered.config("catalog")["CATALOG_CACHE_TTL_SECONDS"] == "60"
    assert rendered.config("orders")["ORDERS_OIDC_ISSUER"] == "https://issuer.example.com"
    assert rendered.config("orders")["ORDERS_OIDC_AUDIENCE"] == "emporium"
    assert "ORDERS_OIDC_JWKS_URL" not in rendered.config("orders")  # discovered when unset
    assert rendered.config("ui")["UI_OIDC_CLIENT_ID"] == "emporium-ui"
    for service in SETTINGS:
        assert rendered.config(service)["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
