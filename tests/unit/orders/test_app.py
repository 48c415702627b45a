"""The orders service's settings and wiring."""

from __future__ import annotations

import pytest
from tests.oidc_issuer import LocalIssuer
from tests.unit.orders.conftest import Store, orders_environ

from emporium.config import ConfigError
from orders.app import OrdersSettings


@pytest.mark.parametrize("variable", ["ORDERS_OIDC_ISSUER", "ORDERS_OIDC_AUDIENCE"])
def test_a_missing_sign_in_setting_stops_start_up_naming_it(
    issuer: LocalIssuer, variable: str
) -> None:
    environ = orders_environ(issuer)
    del environ[variable]
    with pytest.raises(ConfigError, match=f"^{variable} is required but not set$"):
        OrdersSettings.from_env(environ)


def test_the_keys_url_is_optional_and_checked(issuer: LocalIssuer) -> None:
    environ = orders_environ(issuer)
    assert OrdersSettings.from_env(environ).oidc.jwks_url is None
    environ["ORDERS_OIDC_JWKS_URL"] = "http://issuer.auth.svc.cluster.local/jwks"
    assert OrdersSettings.from_env(environ).oidc.jwks_url == environ["ORDERS_OIDC_JWKS_URL"]
    environ["ORDERS_OIDC_JWKS_URL"] = "file:///etc/passwd"
    with pytest.raises(ConfigError, match=r"^ORDERS_OIDC_JWKS_URL="):
        OrdersSettings.from_env(environ)


def test_the_hmac_key_is_a_required_secret(issuer: LocalIssuer) -> None:
    environ = orders_environ(issuer)
    del environ["ORDERS_HMAC_KEY"]
    with pytest.raises(ConfigError, match=r"^ORDERS_HMAC_KEY is required but not set$"):
        OrdersSettings.from_env(environ)
    environ["ORDERS_HMAC_KEY"] = "short-key-1234567"
    with pytest.raises(ConfigError, match=r"^ORDERS_HMAC_KEY is too short") as refused:
        OrdersSettings.from_env(environ)
    assert "short-key-1234567" not in str(refused.value)


def test_orders_stays_ready_while_redis_is_away(store: Store) -> None:
    assert store.client.get("/readyz").get_json()["checks"] == {"dynamodb": "ok", "redis": "ok"}
    store.server.connected = False
    ready = store.client.get("/readyz")
    assert ready.status_code == 200  # checkouts still place orders; the outbox keeps the events
    assert ready.get_json()["checks"] == {"dynamodb": "ok", "redis": "degraded"}
    assert store.checkout().status_code == 201
