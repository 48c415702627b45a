"""The cart's settings: defaults, its CART_ variables, and one-line errors naming the variable."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from tests.checks import config_error

from cart.app import CartSettings, create_app

METRICS = "http://localhost:9090"  # /metrics is served on METRICS_PORT (9090) only


def settings_env(**overrides: str) -> dict[str, str]:
    """A valid cart environment; an override set to "" unsets the variable."""
    return {"CART_CATALOG_URL": "http://catalog:8080", "AWS_REGION": "eu-west-1", **overrides}


def test_cart_settings_have_defaults_for_everything_but_the_catalog_url_and_region() -> None:
    settings = CartSettings.from_env(settings_env())
    assert settings.table == "emporium-carts"
    assert settings.catalog_url == "http://catalog:8080"
    assert settings.ttl_days == 7
    assert settings.max_lines == 50
    assert settings.dynamodb.region == "eu-west-1"
    assert settings.service.dynamodb_create_tables is False
    assert settings.outbound.retries == 2


def test_cart_settings_read_their_variables() -> None:
    settings = CartSettings.from_env(
        settings_env(
            CART_TABLE="shop.carts-v2",
            CART_CATALOG_URL="https://catalog.shop.internal",
            CART_TTL_DAYS="90",
            CART_MAX_LINES="10",
            OUTBOUND_READ_TIMEOUT="0.5",
            DYNAMODB_CREATE_TABLES="true",
        )
    )
    assert settings.table == "shop.carts-v2"
    assert settings.catalog_url == "https://catalog.shop.internal"
    assert settings.ttl_days == 90
    assert settings.max_lines == 10
    assert settings.outbound.read_timeout == 0.5
    assert settings.service.dynamodb_create_tables is True


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"CART_CATALOG_URL": ""}, "CART_CATALOG_URL"),
        ({"CART_CATALOG_URL": "catalog:8080"}, "CART_CATALOG_URL"),
        ({"CART_CATALOG_URL": "ftp://catalog"}, "CART_CATALOG_URL"),
        ({"CART_CATALOG_URL": "http://catalog:port"}, "CART_CATALOG_URL"),
        ({"CART_TTL_DAYS": "0"}, "CART_TTL_DAYS"),
        ({"CART_TTL_DAYS": "91"}, "CART_TTL_DAYS"),
        ({"CART_TTL_DAYS": "seven"}, "CART_TTL_DAYS"),
        ({"CART_MAX_LINES": "0"}, "CART_MAX_LINES"),
        ({"CART_MAX_LINES": "many"}, "CART_MAX_LINES"),
        ({"CART_TABLE": "no spaces allowed"}, "CART_TABLE"),
        ({"AWS_REGION": ""}, "AWS_REGION"),
        ({"OUTBOUND_RETRIES": "9"}, "OUTBOUND_RETRIES"),
        ({"OUTBOUND_CONNECT_TIMEOUT": "soon"}, "OUTBOUND_CONNECT_TIMEOUT"),
        ({"DYNAMODB_CREATE_TABLES": "sure"}, "DYNAMODB_CREATE_TABLES"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    ],
)
def test_cart_settings_name_the_variable_that_is_wrong(
    overrides: dict[str, str], variable: str
) -> None:
    message = config_error(lambda: CartSettings.from_env(settings_env(**overrides)))
    assert message.startswith(variable)


def test_create_app_without_a_catalog_url_fails_naming_it(environ: dict[str, str]) -> None:
    del environ["CART_CATALOG_URL"]
    message = config_error(lambda: create_app(environ))
    assert message == "CART_CATALOG_URL is required but not set"


def test_the_table_is_created_only_when_asked(make_app: Callable[..., Flask]) -> None:
    app = make_app(DYNAMODB_CREATE_TABLES="false", CART_TABLE="carts-not-created")
    store = app.extensions["cart"].store
    assert store.table == "carts-not-created"
    assert store.client().list_tables()["TableNames"] == []
    assert app.test_client().get("/readyz").status_code == 503


def test_creating_the_table_twice_is_fine(make_app: Callable[..., Flask]) -> None:
    make_app()
    app = make_app()
    assert app.test_client().get("/readyz").status_code == 200


def test_the_service_endpoints_are_there(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    client.post("/api/cart/carts")
    metrics = client.get("/metrics", base_url=METRICS).get_data(as_text=True)
    assert 'route="/api/cart/carts"' in metrics
