"""The development OpenID issuer on kind (local.oidcIssuer): the issuer accepts the environment
the chart gives it, and orders and the UI are pointed at it so that a token it signs is one
orders accepts: the same issuer URL, the same audience, and keys fetched by a Service name.
(test_settings.py checks that orders and the UI start with what they get.)"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tests.unit.chart.conftest import SETUPS, Release, name, template, template_error

from devstack.issuer.app import IssuerSettings

PUBLIC_URL = "http://localhost:8086"


def issuer_environment(release: Release) -> dict[str, str]:
    container = release.get("Deployment", name("oidc-issuer"))["spec"]["template"]["spec"][
        "containers"
    ][0]
    return {variable["name"]: variable["value"] for variable in container["env"]}


def test_the_issuer_runs_on_kind_with_its_settings(helm: Path) -> None:
    kind = template(helm, *SETUPS["kind"])
    environ = issuer_environment(kind)
    settings = IssuerSettings.from_env(environ)  # a ConfigError would fail the test
    assert settings.issuer_url == PUBLIC_URL
    assert settings.redirect_origins == ("http://localhost:8080", "http://127.0.0.1:8080")
    assert environ["WEB_CONCURRENCY"] == "1"  # its key and codes live in one process
    deployment = kind.get("Deployment", name("oidc-issuer"))
    assert deployment["spec"]["replicas"] == 1
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "emporium/dev-issuer:dev"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    service = kind.get("Service", name("oidc-issuer"))
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(8086, "http")]
    assert [p["containerPort"] for p in container["ports"]] == [8080]


def test_orders_and_the_ui_trust_the_issuer_that_runs(helm: Path) -> None:
    kind = template(helm, *SETUPS["kind"])
    issuer = IssuerSettings.from_env(issuer_environment(kind))
    orders = kind.config("orders")
    assert orders["ORDERS_OIDC_ISSUER"] == issuer.issuer_url  # a token's iss, to the character
    assert orders["ORDERS_OIDC_AUDIENCE"] == issuer.client_id
    jwks = urlsplit(orders["ORDERS_OIDC_JWKS_URL"])
    assert (jwks.hostname, jwks.port, jwks.path) == (name("oidc-issuer"), 8086, "/jwks.json")
    ui = kind.config("ui")
    assert ui["UI_OIDC_AUTHORIZE_URL"] == f"{PUBLIC_URL}/authorize"
    assert ui["UI_OIDC_TOKEN_URL"] == f"{PUBLIC_URL}/token"
    assert ui["UI_OIDC_CLIENT_ID"] == issuer.client_id


def test_a_real_issuer_given_at_install_wins(helm: Path) -> None:
    issuer = "https://issuer.example.com"
    kind = template(
        helm, *SETUPS["kind"], f"--set=orders.oidc.issuer={issuer},orders.oidc.audience=shop"
    )
    orders = kind.config("orders")
    assert (orders["ORDERS_OIDC_ISSUER"], orders["ORDERS_OIDC_AUDIENCE"]) == (issuer, "shop")
    assert "ORDERS_OIDC_JWKS_URL" not in orders  # the real issuer's discovery, not ours


def test_no_development_issuer_beyond_kind(helm: Path) -> None:
    for setup in ("eks", "defaults"):
        rendered = template(helm, *SETUPS[setup])
        assert not rendered.has("Deployment", name("oidc-issuer")), setup
        assert not any("oidc-issuer" in o["metadata"]["name"] for o in rendered.objects), setup


def test_the_development_issuer_is_refused_beside_aws(helm: Path) -> None:
    message = template_error(helm, *SETUPS["eks"], "--set=local.oidcIssuer.enabled=true")
    assert "local.oidcIssuer.enabled: the development issuer signs anyone in" in message
