"""Catalog's settings from its environment, and its app factory refusing to start without them."""

from __future__ import annotations

import pytest
from tests.checks import config_error

from catalog.app import CatalogSettings, create_app

SECRET = "s3cr3t-value-that-must-not-leak"


def settings_env(**overrides: str) -> dict[str, str]:
    """A valid catalog environment; an override set to "" unsets the variable."""
    return {
        "CATALOG_ADMIN_TOKEN": SECRET,
        "CATALOG_HMAC_KEY": SECRET * 2,
        "AWS_REGION": "eu-west-1",
        **overrides,
    }


def test_catalog_settings_have_defaults_for_everything_but_token_and_region() -> None:
    settings = CatalogSettings.from_env(settings_env())
    assert settings.table == "emporium-catalog"
    assert settings.admin_token == SECRET
    assert settings.dynamodb.region == "eu-west-1"
    assert settings.dynamodb.endpoint_url is None
    assert settings.redis.url == "redis://localhost:6379/0"
    assert settings.service.log_level == "INFO"
    assert settings.service.dynamodb_create_tables is False
    assert settings.near_cache_seconds == 10  # on, evicted by the invalidation channel


def test_catalog_settings_read_their_variables() -> None:
    settings = CatalogSettings.from_env(
        settings_env(
            CATALOG_TABLE="shop.catalog-v2",
            CATALOG_CACHE_TTL_SECONDS="60",
            CATALOG_NEAR_CACHE_SECONDS="0.5",
            REDIS_URL="rediss://cache.internal:6380/1",
            AWS_ENDPOINT_URL_DYNAMODB="http://localhost:8000",
            LOG_LEVEL="debug",
            MAX_BODY_BYTES="2048",
        )
    )
    assert settings.table == "shop.catalog-v2"
    assert settings.product_ttl == 60
    assert settings.near_cache_seconds == 0.5
    assert settings.redis.url == "rediss://cache.internal:6380/1"
    assert settings.dynamodb.endpoint_url == "http://localhost:8000"
    assert settings.service.log_level == "DEBUG"
    assert settings.service.max_body_bytes == 2048


def test_catalog_settings_accept_aws_default_region() -> None:
    settings = CatalogSettings.from_env(settings_env(AWS_REGION="", AWS_DEFAULT_REGION="us-west-2"))
    assert settings.dynamodb.region == "us-west-2"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"CATALOG_ADMIN_TOKEN": ""}, "CATALOG_ADMIN_TOKEN"),
        ({"CATALOG_ADMIN_TOKEN": "short"}, "CATALOG_ADMIN_TOKEN"),
        ({"CATALOG_HMAC_KEY": ""}, "CATALOG_HMAC_KEY"),
        ({"CATALOG_HMAC_KEY": "a-key-of-only-31-characters-xyz"}, "CATALOG_HMAC_KEY"),
        ({"REDIS_URL": "http://cache:6379"}, "REDIS_URL"),
        ({"CATALOG_TABLE": "no spaces allowed"}, "CATALOG_TABLE"),
        ({"CATALOG_TABLE": "ab"}, "CATALOG_TABLE"),
        ({"AWS_REGION": ""}, "AWS_REGION"),
        ({"AWS_ENDPOINT_URL_DYNAMODB": "localhost:8000"}, "AWS_ENDPOINT_URL_DYNAMODB"),
        ({"CATALOG_CACHE_TTL_SECONDS": "0"}, "CATALOG_CACHE_TTL_SECONDS"),
        ({"CATALOG_NEAR_CACHE_SECONDS": "-1"}, "CATALOG_NEAR_CACHE_SECONDS"),
        ({"CATALOG_NEAR_CACHE_SECONDS": "soon"}, "CATALOG_NEAR_CACHE_SECONDS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"MAX_BODY_BYTES": "100"}, "MAX_BODY_BYTES"),
        ({"DYNAMODB_CREATE_TABLES": "sure"}, "DYNAMODB_CREATE_TABLES"),
    ],
)
def test_catalog_settings_name_the_variable_that_is_wrong(
    overrides: dict[str, str], variable: str
) -> None:
    message = config_error(lambda: CatalogSettings.from_env(settings_env(**overrides)))
    assert variable in message


def test_catalog_settings_never_show_the_admin_token() -> None:
    message = config_error(
        lambda: CatalogSettings.from_env(settings_env(CATALOG_ADMIN_TOKEN="tiny-token"))
    )
    assert "tiny-token" not in message


def test_create_app_without_an_admin_token_fails_naming_it(environ: dict[str, str]) -> None:
    del environ["CATALOG_ADMIN_TOKEN"]
    message = config_error(lambda: create_app(environ))
    assert "CATALOG_ADMIN_TOKEN" in message
