"""The development OpenID Connect issuer over HTTP: discovery, the JWKS, the sign-in page, the
authorization code flow with PKCE, the token endpoint and the curl shortcut /dev/token."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask.testing import FlaskClient
from tests.clock import Clock
from werkzeug.test import TestResponse

from devstack.issuer.app import create_app
from devstack.issuer.tokens import SigningKey, id_token_claims
from emporium.config import ConfigError

Problem = Callable[..., dict[str, Any]]

ISSUER = "http://127.0.0.1:8086"
CLIENT = "emporium-ui"
STORE = "http://localhost:8080/"
ROOT = Path(__file__).resolve().parents[3]


def challenge_of(verifier: str) -> str:
    """RFC 7636 S256, written out here so the test does not trust the issuer's own."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()[:43]


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def authorize_params(verifier: str, **overrides: str) -> dict[str, str]:
    params = {
        "client_id": CLIENT,
        "redirect_uri": STORE,
        "response_type": "code",
        "state": "state-123",
        "code_challenge": challenge_of(verifier),
        "code_challenge_method": "S256",
        "scope": "openid email",
    }
    return {**params, **overrides}


def query_of(response: TestResponse) -> dict[str, str]:
    assert response.status_code == 303, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"])
    return {name: values[0] for name, values in parse_qs(location.query).items()}


def sign_in(
    client: FlaskClient, verifier: str, email: str = "ada@example.com", **extra: str
) -> str:
    """Submit the sign-in page; returns the code it sends back to the store."""
    response = client.post(
        "/authorize", data={**authorize_params(verifier, **extra), "email": email}
    )
    assert response.headers["Location"].startswith(extra.get("redirect_uri", STORE) + "?")
    query = query_of(response)
    assert query["state"] == extra.get("state", "state-123")
    return query["code"]


def redeem(client: FlaskClient, code: str, verifier: str, /, **overrides: str) -> TestResponse:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": STORE,
        "client_id": CLIENT,
        **overrides,
    }
    return client.post("/token", data=form)


def verify(client: FlaskClient, id_token: str) -> dict[str, Any]:
    """The token's claims, checked as a service checks them: the JWKS from discovery."""
    discovery = client.get("/.well-known/openid-configuration").get_json()
    jwks_path = urlsplit(discovery["jwks_uri"]).path
    keys = jwt.PyJWKSet.from_dict(client.get(jwks_path).get_json())
    key = keys[jwt.get_unverified_header(id_token)["kid"]]
    claims: dict[str, Any] = jwt.decode(
        id_token, key, algorithms=["RS256"], audience=CLIENT, issuer=discovery["issuer"]
    )
    return claims


def oauth_problem(response: TestResponse, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    document: dict[str, Any] = response.get_json()
    assert document["error"] == error
    assert document["error_description"] == document["detail"]
    assert response.headers["Cache-Control"] == "no-store"
    return document


# Discovery and keys


def test_discovery_names_the_endpoints_under_the_issuer(client: FlaskClient) -> None:
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.get_json()
    assert document["issuer"] == ISSUER
    assert document["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert document["token_endpoint"] == f"{ISSUER}/token"
    assert document["jwks_uri"] == f"{ISSUER}/jwks.json"
    assert document["response_types_supported"] == ["code"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert document["code_challenge_methods_supported"] == ["S256"]


def test_the_issuer_url_is_the_configured_one_without_a_final_slash() -> None:
    client = create_app({"OIDC_ISSUER_URL": "http://localhost:9999/"}).test_client()
    document = client.get("/.well-known/openid-configuration").get_json()
    assert document["issuer"] == "http://localhost:9999"
    assert document["jwks_uri"] == "http://localhost:9999/jwks.json"


def test_the_jwks_is_one_public_rsa_key(client: FlaskClient) -> None:
    (key,) = client.get("/jwks.json").get_json()["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "no private part"


def test_every_start_makes_a_new_key() -> None:
    first = create_app({}).test_client().get("/jwks.json").get_json()
    second = create_app({}).test_client().get("/jwks.json").get_json()
    assert first["keys"][0]["kid"] != second["keys"][0]["kid"]


# The whole flow


def test_a_sign_in_gives_an_id_token_the_jwks_verifies(client: FlaskClient) -> None:
    verifier = new_verifier()
    code = sign_in(client, verifier, nonce="n-1")
    response = redeem(client, code, verifier)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    claims = verify(client, body["id_token"])
    assert claims["iss"] == ISSUER
    assert claims["aud"] == CLIENT
    assert claims["email"] == "ada@example.com"
    assert claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["nonce"] == "n-1"
    assert claims["sub"]
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] == client.get("/jwks.json").get_json()["keys"][0]["kid"]


def test_a_token_signed_by_another_key_is_refused(client: FlaskClient, clock: Clock) -> None:
    claims = id_token_claims(issuer=ISSUER, audience=CLIENT, email="ada@example.com", now=clock())
    token = SigningKey().sign(claims)  # another process's key
    with pytest.raises(KeyError, match="no key for kid"):
        verify(client, token)


def test_the_same_email_is_the_same_subject(client: FlaskClient) -> None:
    first, second, other = (
        client.post("/dev/token", json={"email": email}).get_json()["id_token"]
        for email in ("ada@example.com", "Ada@Example.com", "bob@example.com")
    )
    assert verify(client, first)["sub"] == verify(client, second)["sub"]
    assert verify(client, first)["sub"] != verify(client, other)["sub"]


def test_the_redirect_keeps_the_query_the_client_put_in_its_redirect_uri(
    client: FlaskClient,
) -> None:
    verifier = new_verifier()
    response = client.post(
        "/authorize",
        data={
            **authorize_params(verifier, redirect_uri=STORE + "?from=orders"),
            "email": "ada@example.com",
        },
    )
    query = query_of(response)
    assert query["from"] == "orders"
    assert query["code"]


# PKCE and the one-time code


def test_a_wrong_code_verifier_is_refused_and_spends_the_code(client: FlaskClient) -> None:
    verifier = new_verifier()
    code = sign_in(client, verifier)
    oauth_problem(redeem(client, code, new_verifier()), 400, "invalid_grant")
    # A second guess, even the right one, finds no code.
    oauth_problem(redeem(client, code, verifier), 400, "invalid_grant")


@pytest.mark.parametrize("verifier", ["short", "a" * 129, "not allowed characters " * 3])
def test_a_malformed_code_verifier_is_refused(client: FlaskClient, verifier: str) -> None:
    code = sign_in(client, "x" * 43)
    oauth_problem(redeem(client, code, verifier), 400, "invalid_grant")


def test_a_code_is_good_once(client: FlaskClient) -> None:
    verifier = new_verifier()
    code = sign_in(client, verifier)
    assert redeem(client, code, verifier).status_code == 200
    document = oauth_problem(redeem(client, code, verifier), 400, "invalid_grant")
    assert "used already" in document["detail"]


def test_a_code_expires_after_a_minute(client: FlaskClient, clock: Clock) -> None:
    verifier = new_verifier()
    code = sign_in(client, verifier)
    clock.advance(61)
    document = oauth_problem(redeem(client, code, verifier), 400, "invalid_grant")
    assert "expired" in document["detail"]


def test_a_code_is_good_within_its_minute(client: FlaskClient, clock: Clock) -> None:
    verifier = new_verifier()
    code = sign_in(client, verifier)
    clock.advance(59)
    assert redeem(client, code, verifier).status_code == 200


def test_a_code_is_bound_to_its_redirect_uri(client: FlaskClient) -> None:
    verifier = new_verifier()
    code = sign_in(client, verifier)
    response = redeem(client, code, verifier, redirect_uri="http://127.0.0.1:8080/")
    oauth_problem(response, 400, "invalid_grant")


def test_an_unknown_code_is_refused(client: FlaskClient) -> None:
    oauth_problem(redeem(client, "made-up", new_verifier()), 400, "invalid_grant")


# The token endpoint's other refusals


def test_another_client_id_is_refused_at_the_token_endpoint(client: FlaskClient) -> None:
    verifier = new_verifier()
    code = sign_in(client, verifier)
    oauth_problem(redeem(client, code, verifier, client_id="someone-else"), 401, "invalid_client")


def test_only_the_authorization_code_grant_is_served(client: FlaskClient) -> None:
    response = redeem(client, "code", new_verifier(), grant_type="password")
    oauth_problem(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize("missing", ["code", "code_verifier", "redirect_uri", "client_id"])
def test_a_token_request_needs_every_field(client: FlaskClient, missing: str) -> None:
    response = redeem(client, "code", new_verifier(), **{missing: ""})
    document = oauth_problem(response, 400, "invalid_request")
    assert missing in document["detail"]


def test_a_token_request_is_a_form(client: FlaskClient) -> None:
    response = client.post("/token", json={"grant_type": "authorization_code"})
    oauth_problem(response, 415, "invalid_request")


def test_the_store_s_origin_may_call_the_token_endpoint(client: FlaskClient) -> None:
    verifier = new_verifier()
    code = sign_in(client, verifier)
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": STORE,
            "client_id": CLIENT,
        },
        headers={"Origin": "http://localhost:8080"},
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    assert "Origin" in response.headers["Vary"]


def test_an_error_of_the_token_endpoint_is_readable_by_the_store_too(client: FlaskClient) -> None:
    response = client.post(
        "/token", data={"grant_type": "password"}, headers={"Origin": "http://127.0.0.1:8080"}
    )
    assert response.status_code == 400
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8080"


def test_other_origins_may_not_read_the_token_endpoint(client: FlaskClient) -> None:
    response = client.post(
        "/token", data={"grant_type": "password"}, headers={"Origin": "http://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_a_preflight_from_the_store_is_answered(client: FlaskClient) -> None:
    response = client.options(
        "/token",
        headers={
            "Origin": "http://localhost:8080",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]


# The sign-in page


class Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.inputs: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "input":
            name = attributes.get("name") or ""
            self.inputs.append(name)
            if attributes.get("type") == "hidden":
                self.hidden[name] = attributes.get("value") or ""

    def handle_data(self, data: str) -> None:
        self.text += data


def page_of(response: TestResponse) -> Form:
    form = Form()
    form.feed(response.get_data(as_text=True))
    return form


def test_the_sign_in_page_asks_only_for_an_email_and_says_it_is_for_development(
    client: FlaskClient,
) -> None:
    verifier = new_verifier()
    response = client.get("/authorize", query_string=authorize_params(verifier, nonce="n-2"))
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    page = page_of(response)
    assert [name for name in page.inputs if name not in page.hidden] == ["email"]
    assert "password" not in page.inputs
    text = " ".join(page.text.split())
    assert "Development sign-in" in text
    assert "no password" in text
    assert "make run" in text
    assert page.hidden["state"] == "state-123"
    assert page.hidden["code_challenge"] == challenge_of(verifier)
    assert page.hidden["redirect_uri"] == STORE
    assert page.hidden["nonce"] == "n-2"


def test_the_sign_in_page_escapes_what_the_client_sent(client: FlaskClient) -> None:
    state = '"><script>alert(1)</script>'
    response = client.get("/authorize", query_string=authorize_params("v" * 43, state=state))
    assert "<script>" not in response.get_data(as_text=True)
    assert page_of(response).hidden["state"] == state


def test_the_sign_in_page_may_post_back_to_the_store_and_nowhere_else(
    client: FlaskClient,
) -> None:
    response = client.get("/authorize", query_string=authorize_params(new_verifier()))
    policy = {
        part.split()[0]: part.split()[1:]
        for part in response.headers["Content-Security-Policy"].split(";")
    }
    assert policy["form-action"] == ["'self'", "http://localhost:8080", "http://127.0.0.1:8080"]
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_sign_in_page_s_stylesheet_is_served(client: FlaskClient) -> None:
    response = client.get("/static/sign-in.css", buffered=True)
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    response.close()


@pytest.mark.parametrize(
    "email", ["", "ada", "ada@example", "a b@example.com", "x" * 250 + "@a.io"]
)
def test_the_sign_in_page_asks_again_for_a_bad_email(client: FlaskClient, email: str) -> None:
    verifier = new_verifier()
    response = client.post("/authorize", data={**authorize_params(verifier), "email": email})
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "Enter an email address" in response.get_data(as_text=True)
    assert page_of(response).hidden["state"] == "state-123"


def test_cancel_goes_back_with_access_denied(client: FlaskClient) -> None:
    response = client.post(
        "/authorize", data={**authorize_params(new_verifier()), "action": "cancel"}
    )
    query = query_of(response)
    assert query["error"] == "access_denied"
    assert query["state"] == "state-123"
    assert "code" not in query


# /authorize refusals


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://evil.example/",
        "http://localhost:8081/",
        "https://localhost:8080/",
        "http://localhost:8080@evil.example/",
        "http://evil.example/?http://localhost:8080/",
        "//evil.example/",
        "/relative",
        "javascript:alert(1)",
        "http://localhost:8080/#/orders",
        "",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_redirect_uri_of_another_origin_is_refused_without_redirecting(
    client: FlaskClient, problem: Problem, redirect_uri: str, method: str
) -> None:
    params = {**authorize_params(new_verifier(), redirect_uri=redirect_uri), "email": "a@b.io"}
    if method == "GET":
        response = client.get("/authorize", query_string=params)
    else:
        response = client.post("/authorize", data=params)
    document = problem(response, 400)
    assert document["type"].endswith("/redirect-uri-not-allowed")
    assert "Location" not in response.headers


def test_the_allowed_origins_come_from_the_settings(problem: Problem) -> None:
    client = create_app({"OIDC_REDIRECT_ORIGINS": "https://shop.example"}).test_client()
    allowed = client.get(
        "/authorize",
        query_string=authorize_params(new_verifier(), redirect_uri="https://shop.example/"),
    )
    assert allowed.status_code == 200
    refused = client.get("/authorize", query_string=authorize_params(new_verifier()))
    problem(refused, 400)


def test_an_unknown_client_is_refused_without_redirecting(
    client: FlaskClient, problem: Problem
) -> None:
    params = authorize_params(new_verifier(), client_id="someone-else")
    response = client.get("/authorize", query_string=params)
    assert problem(response, 400)["type"].endswith("/unknown-client")
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
    ],
)
def test_other_authorization_errors_go_back_to_the_store(
    client: FlaskClient, overrides: dict[str, str], error: str
) -> None:
    response = client.get("/authorize", query_string=authorize_params("v" * 43, **overrides))
    assert response.headers["Location"].startswith(STORE + "?")
    query = query_of(response)
    assert query["error"] == error
    assert query["state"] == "state-123"
    assert "code" not in query


def test_a_sign_in_needs_a_state(client: FlaskClient) -> None:
    query = query_of(client.get("/authorize", query_string=authorize_params("v" * 43, state="")))
    assert query["error"] == "invalid_request"
    assert "state" not in query


def test_the_hidden_fields_are_checked_again_on_submit(client: FlaskClient) -> None:
    verifier = new_verifier()
    params = {**authorize_params(verifier, code_challenge_method="plain"), "email": "a@b.io"}
    query = query_of(client.post("/authorize", data=params))
    assert query["error"] == "invalid_request"
    assert "code" not in query


# /dev/token, for curl


def test_dev_token_gives_a_token_for_an_email(client: FlaskClient) -> None:
    response = client.post("/dev/token", json={"email": "grace@example.com"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    claims = verify(client, body["id_token"])
    assert claims["email"] == "grace@example.com"
    assert claims["email_verified"] is True
    assert claims["aud"] == CLIENT


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"email": "a b@example.com"},
        {"email": ""},
        {"email": "x" * 250 + "@a.io"},
        {"email": 42},
        {},
        {"email": "a@b.io", "admin": True},
    ],
)
def test_dev_token_validates_the_email(
    client: FlaskClient, problem: Problem, body: dict[str, object]
) -> None:
    document = problem(client.post("/dev/token", json=body), 422)
    assert document["errors"]


def test_dev_token_wants_json(client: FlaskClient, problem: Problem) -> None:
    problem(client.post("/dev/token", data={"email": "a@b.io"}), 415)


# Settings and operations


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"OIDC_ISSUER_URL": "localhost:8086"}, "OIDC_ISSUER_URL"),
        ({"OIDC_ISSUER_URL": "http://localhost:8086/?x=1"}, "OIDC_ISSUER_URL"),
        ({"OIDC_REDIRECT_ORIGINS": "http://localhost:8080/path"}, "OIDC_REDIRECT_ORIGINS"),
        ({"OIDC_REDIRECT_ORIGINS": "http://localhost:8080,,"}, "OIDC_REDIRECT_ORIGINS"),
        ({"OIDC_REDIRECT_ORIGINS": "ftp://localhost"}, "OIDC_REDIRECT_ORIGINS"),
        ({"OIDC_CLIENT_ID": "a client"}, "OIDC_CLIENT_ID"),
    ],
)
def test_a_bad_setting_stops_the_issuer(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as raised:
        create_app(environ)
    assert "\n" not in str(raised.value)


def test_the_client_id_is_the_audience() -> None:
    client = create_app({"OIDC_CLIENT_ID": "shop-web"}).test_client()
    token = client.post("/dev/token", json={"email": "a@b.io"}).get_json()["id_token"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "shop-web"


def test_the_issuer_is_ready_with_nothing_to_wait_for(client: FlaskClient) -> None:
    assert client.get("/readyz").status_code == 200


def test_the_images_leave_the_issuer_out() -> None:
    """Everything under services/ goes into every image but what .dockerignore names."""
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert "services/devstack/issuer" in ignored
    assert (ROOT / "services/devstack/issuer/app.py").is_file()
