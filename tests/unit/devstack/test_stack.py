"""`make run`'s wiring of sign-in: the issuer it starts, and what orders and the ui are told
about it, agree with each other."""

from __future__ import annotations

import jwt
import pytest

from devstack.issuer.app import create_app as create_issuer
from devstack.stack import ISSUER, SERVICES, Addresses, Ports, service_env


def names() -> list[str]:
    return [service.name for service in SERVICES]


def test_the_issuer_starts_before_orders_as_one_process() -> None:
    assert names().index(ISSUER) < names().index("orders")
    issuer = next(service for service in SERVICES if service.name == ISSUER)
    assert issuer.app == "devstack.issuer.app:create_app()"
    assert issuer.env["WEB_CONCURRENCY"] == "1"  # its key and codes live in one process


def test_the_issuer_s_port_is_oidc_port() -> None:
    assert Ports.from_env({}).services[ISSUER] == 8086
    ports = Ports.from_env({"OIDC_PORT": "9186"})
    assert ports.services[ISSUER] == 9186
    assert ports.issuer_url == "http://127.0.0.1:9186"
    assert ("OIDC_PORT", 9186) in list(ports.named())


@pytest.fixture
def env() -> dict[str, str]:
    ports = Ports.from_env({"OIDC_PORT": "9186", "EDGE_PORT": "9080"})
    return service_env(ports.addresses(), {})


def test_orders_expects_the_issuer_and_audience_of_the_tokens_it_will_get(
    env: dict[str, str],
) -> None:
    issuer = create_issuer(env).test_client()
    token = issuer.post("/dev/token", json={"email": "ada@example.com"}).get_json()["id_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == env["ORDERS_OIDC_ISSUER"] == "http://127.0.0.1:9186"
    assert claims["aud"] == env["ORDERS_OIDC_AUDIENCE"] == "emporium-ui"
    discovery = issuer.get("/.well-known/openid-configuration").get_json()
    assert discovery["issuer"] == env["ORDERS_OIDC_ISSUER"]


def test_the_ui_signs_in_at_the_same_issuer_as_the_same_client(env: dict[str, str]) -> None:
    discovery = create_issuer(env).test_client().get("/.well-known/openid-configuration")
    assert env["UI_OIDC_AUTHORIZE_URL"] == discovery.get_json()["authorization_endpoint"]
    assert env["UI_OIDC_TOKEN_URL"] == discovery.get_json()["token_endpoint"]
    assert env["UI_OIDC_CLIENT_ID"] == env["OIDC_CLIENT_ID"] == env["ORDERS_OIDC_AUDIENCE"]


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_a_sign_in_may_return_to_the_store_by_either_name(env: dict[str, str], host: str) -> None:
    issuer = create_issuer(env).test_client()
    page = issuer.get(
        "/authorize",
        query_string={
            "client_id": env["UI_OIDC_CLIENT_ID"],
            "redirect_uri": f"http://{host}:9080/",
            "response_type": "code",
            "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200, page.get_data(as_text=True)


def test_a_service_is_told_only_of_the_services_that_run() -> None:
    where = Addresses(
        dynamodb="http://db:8000", redis="redis://r:6379/0", services={"orders": "http://o"}
    )
    env = service_env(where, {})
    assert env["FULFILLMENT_ORDERS_URL"] == "http://o"
    assert "CART_CATALOG_URL" not in env
    assert "ORDERS_OIDC_ISSUER" not in env  # no issuer, no sign-in
    assert (env["AWS_ENDPOINT_URL_DYNAMODB"], env["REDIS_URL"]) == (
        "http://db:8000",
        "redis://r:6379/0",
    )


def test_the_tokens_and_keys_given_are_kept_and_orders_and_fulfillment_share_one() -> None:
    given = {
        "CATALOG_ADMIN_TOKEN": "a" * 24,
        "ORDERS_INTERNAL_TOKEN": "i" * 24,
        "WEB_CONCURRENCY": "1",
    }
    env = service_env(Ports.free().addresses(), given)
    assert env["CATALOG_ADMIN_TOKEN"] == "a" * 24
    assert env["ORDERS_INTERNAL_TOKEN"] == env["FULFILLMENT_ORDERS_TOKEN"] == "i" * 24
    assert env["WEB_CONCURRENCY"] == "1"
    assert env["ORDERS_HMAC_KEY"] != service_env(Ports.free().addresses(), given)["ORDERS_HMAC_KEY"]
