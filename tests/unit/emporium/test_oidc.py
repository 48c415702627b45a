"""OpenID Connect ID tokens (`emporium.oidc`) against a loopback issuer: what is accepted, every
reason a token is refused, and what the issuer being out of reach looks like."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient
from tests.oidc_issuer import AUDIENCE, LocalIssuer, b64url, new_key

from devstack.processes import free_port
from emporium import problems
from emporium.config import ConfigError, Env
from emporium.oidc import (
    Identity,
    IdTokenVerifier,
    IssuerUnavailableError,
    OidcSettings,
    TokenRejectedError,
)


@pytest.fixture(scope="module")
def issuer() -> Iterator[LocalIssuer]:
    with LocalIssuer() as running:
        yield running


def verifier_of(running: LocalIssuer, **changes: Any) -> IdTokenVerifier:
    settings: dict[str, Any] = {
        "issuer": running.url,
        "audience": AUDIENCE,
        "jwks_url": None,
        **changes,
    }
    return IdTokenVerifier(OidcSettings(**settings), timeout=1.0)


@pytest.fixture
def verifier(issuer: LocalIssuer) -> IdTokenVerifier:
    return verifier_of(issuer)


def compact(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT put together by hand, for the tokens PyJWT refuses to make."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


def test_a_valid_token_gives_the_verified_email(
    issuer: LocalIssuer, verifier: IdTokenVerifier
) -> None:
    identity = verifier.verify(issuer.token("Ada@Example.com"))
    assert identity == Identity(subject="sub-Ada@Example.com", email="Ada@Example.com")


def test_email_verified_may_be_the_string_true(
    issuer: LocalIssuer, verifier: IdTokenVerifier
) -> None:
    assert verifier.verify(issuer.token(email_verified="true")).email == "ada@example.com"


def test_an_audience_list_that_names_ours_is_accepted(
    issuer: LocalIssuer, verifier: IdTokenVerifier
) -> None:
    token = issuer.token(aud=["another-client", AUDIENCE])
    assert verifier.verify(token).email == "ada@example.com"


def _alg_none(issuer: LocalIssuer) -> str:
    return compact({"alg": "none", "kid": issuer.kid}, issuer.claims())


def _hs256_with_the_public_key(issuer: LocalIssuer) -> str:
    """The algorithm confusion attack: an HMAC keyed with the issuer's public key."""
    public = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": issuer.kid, "typ": "JWT"}
    signing_input = compact(header, issuer.claims()).rsplit(".", 1)[0]
    signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def _tampered(issuer: LocalIssuer) -> str:
    """A valid token whose claims were changed after it was signed."""
    head, _, signature = issuer.token("ada@example.com").split(".")
    body = b64url(json.dumps(issuer.claims("eve@example.com")).encode())
    return f"{head}.{body}.{signature}"


REJECTED: dict[str, tuple[Callable[[LocalIssuer], str], str]] = {
    "not a JWT": (lambda issuer: "not-a-token", "not a JWT"),
    "no algorithm": (lambda issuer: "e30.e30.e30", "not accepted"),
    "alg none": (_alg_none, "none"),
    "HS256 keyed with the public key": (_hs256_with_the_public_key, "HS256"),
    "signed by another key": (
        lambda issuer: issuer.token(key=new_key()),
        "signature",
    ),
    "claims changed after signing": (_tampered, "signature"),
    "a key the issuer does not publish": (
        lambda issuer: issuer.token(kid="unknown-key"),
        "key",
    ),
    "expired": (lambda issuer: issuer.token(exp=-3600), "expired"),
    "no exp": (lambda issuer: issuer.token(exp=None), "exp"),
    "another issuer": (lambda issuer: issuer.token(iss="https://evil.example"), "issuer"),
    "no issuer": (lambda issuer: issuer.token(iss=None), "iss"),
    "another audience": (lambda issuer: issuer.token(aud="another-client"), "audience"),
    "no audience": (lambda issuer: issuer.token(aud=None), "aud"),
    "not yet valid": (lambda issuer: issuer.token(nbf=4_000_000_000), "not yet valid"),
    "an iat that is not a time": (lambda issuer: issuer.token(iat="yesterday"), "malformed"),
    "no email": (lambda issuer: issuer.token(None), "email"),
    "an email that is not a string": (lambda issuer: issuer.token(email=["a@b.c"]), "email"),
    "email not verified": (lambda issuer: issuer.token(email_verified=False), "not verified"),
    "email_verified absent": (lambda issuer: issuer.token(email_verified=None), "not verified"),
    "email_verified the string false": (
        lambda issuer: issuer.token(email_verified="false"),
        "not verified",
    ),
    "email_verified the number 1": (
        lambda issuer: issuer.token(email_verified=1),
        "not verified",
    ),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_a_token_is_refused_with_its_reason(
    issuer: LocalIssuer, verifier: IdTokenVerifier, case: str
) -> None:
    make, reason = REJECTED[case]
    with pytest.raises(TokenRejectedError, match=reason):
        verifier.verify(make(issuer))


def test_keys_come_from_the_discovery_document_once(issuer: LocalIssuer) -> None:
    verifier = verifier_of(issuer)
    issuer.paths.clear()
    for _ in range(5):
        verifier.verify(issuer.token())
    assert issuer.paths == ["/.well-known/openid-configuration", "/jwks"]


def test_an_explicit_jwks_url_skips_discovery(issuer: LocalIssuer) -> None:
    # In a cluster the issuer's public URL may be out of the pod's reach; its keys are not.
    verifier = verifier_of(issuer, issuer="https://issuer.invalid", jwks_url=issuer.jwks_url)
    issuer.paths.clear()
    assert verifier.verify(issuer.token(iss="https://issuer.invalid")).email == "ada@example.com"
    assert issuer.paths == ["/jwks"]


def test_an_unreachable_issuer_is_unavailable_not_a_bad_token(issuer: LocalIssuer) -> None:
    verifier = verifier_of(issuer, issuer=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(IssuerUnavailableError):
        verifier.verify(issuer.token())
    unreachable_keys = verifier_of(issuer, jwks_url=f"http://127.0.0.1:{free_port()}/jwks")
    with pytest.raises(IssuerUnavailableError):
        unreachable_keys.verify(issuer.token())


def test_a_failing_key_endpoint_is_unavailable(issuer: LocalIssuer) -> None:
    verifier = verifier_of(issuer)
    issuer.jwks_status = 500
    try:
        with pytest.raises(IssuerUnavailableError):
            verifier.verify(issuer.token())
    finally:
        issuer.jwks_status = 200
    assert verifier.verify(issuer.token()).email == "ada@example.com"  # and it recovers


def test_a_malformed_token_costs_no_call_to_the_issuer(issuer: LocalIssuer) -> None:
    verifier = verifier_of(issuer)
    issuer.paths.clear()
    for token in ("not-a-token", _alg_none(issuer), _hs256_with_the_public_key(issuer)):
        with pytest.raises(TokenRejectedError):
            verifier.verify(token)
    assert issuer.paths == []


# Through Flask: the problem documents a service answers with.


@pytest.fixture
def client(issuer: LocalIssuer) -> FlaskClient:
    app = Flask("oidc-test")
    problems.init_app(app)
    verifier = verifier_of(issuer)

    @app.get("/mine")
    def mine() -> dict[str, str]:
        return {"email": verifier.identity().email}

    return app.test_client()


def test_a_request_with_a_valid_token_is_the_customers(
    issuer: LocalIssuer, client: FlaskClient
) -> None:
    answer = client.get("/mine", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert answer.status_code == 200
    assert answer.get_json() == {"email": "ada@example.com"}


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer   ", "Basic YWRhOnB3"])
def test_no_bearer_token_is_a_401_challenge(client: FlaskClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = client.get("/mine", headers=headers)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="emporium"'


def test_a_refused_token_is_a_401_saying_invalid_token(
    issuer: LocalIssuer, client: FlaskClient
) -> None:
    answer = client.get("/mine", headers={"Authorization": f"Bearer {issuer.token(exp=-3600)}"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="emporium", error="invalid_token"'
    document = answer.get_json()
    assert document["type"].endswith("/invalid-token")
    assert "expired" in document["detail"]


def test_the_issuer_out_of_reach_is_a_503(issuer: LocalIssuer) -> None:
    app = Flask("oidc-test")
    problems.init_app(app)
    verifier = verifier_of(issuer, jwks_url=f"http://127.0.0.1:{free_port()}/jwks")

    @app.get("/mine")
    def mine() -> dict[str, str]:
        return {"email": verifier.identity().email}

    answer = app.test_client().get("/mine", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert answer.status_code == 503
    assert answer.mimetype == "application/problem+json"
    assert answer.headers["Retry-After"] == "5"
    assert "WWW-Authenticate" not in answer.headers


# Settings.


def test_settings_read_the_issuer_audience_and_keys_url_under_the_prefix() -> None:
    env = Env(
        "ORDERS_",
        {
            "ORDERS_OIDC_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab",
            "ORDERS_OIDC_AUDIENCE": "client-id",
            "ORDERS_OIDC_JWKS_URL": "http://issuer.auth.svc:8080/jwks",
        },
    )
    assert OidcSettings.from_env(env) == OidcSettings(
        issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab",
        audience="client-id",
        jwks_url="http://issuer.auth.svc:8080/jwks",
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"X_OIDC_AUDIENCE": "a"}, "X_OIDC_ISSUER is required"),
        ({"X_OIDC_ISSUER": "https://issuer.example"}, "X_OIDC_AUDIENCE is required"),
        ({"X_OIDC_ISSUER": "ftp://issuer", "X_OIDC_AUDIENCE": "a"}, "X_OIDC_ISSUER="),
        (
            {"X_OIDC_ISSUER": "https://i.example", "X_OIDC_AUDIENCE": "a", "X_OIDC_JWKS_URL": "x"},
            "X_OIDC_JWKS_URL=",
        ),
    ],
)
def test_a_missing_or_malformed_setting_names_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        OidcSettings.from_env(Env("X_", environ))
