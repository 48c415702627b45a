"""The issuer's HTTP routes: discovery, the JWKS, the sign-in page (`/authorize`), the token
endpoint, and `POST /dev/token` (development only: an ID token for an email, for curl).

`/authorize` errors that cannot safely go back to the client (an unknown client_id, a
redirect_uri off the allowed origins) are a 400 problem document shown here; the others are sent
back to the redirect_uri as `?error=...&state=...`, as RFC 6749 (4.1.2.1) says. Token endpoint
errors are problem documents that also carry RFC 6749's `error` and `error_description`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, jsonify, redirect, render_template, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.wrappers import Response as WerkzeugResponse

from devstack.issuer.tokens import (
    ALGORITHM,
    CODE_CHALLENGE,
    EMAIL_MAX_LENGTH,
    ID_TOKEN_SECONDS,
    AuthorizationCodes,
    Clock,
    GrantError,
    SigningKey,
    id_token_claims,
    valid_email,
)
from emporium.api import Api, json_response
from emporium.problems import Problem

FORM = "application/x-www-form-urlencoded"
MAX_PARAMETER = 512  # state and nonce: plenty for a random value, short enough to echo back


@dataclass(frozen=True)
class Issuer:
    """What the routes work with; made by `create_app`."""

    url: str
    client_id: str
    redirect_origins: tuple[str, ...]
    key: SigningKey
    codes: AuthorizationCodes
    clock: Clock

    def allows_redirect(self, redirect_uri: str) -> bool:
        parts = urlsplit(redirect_uri)
        return (
            parts.scheme in ("http", "https")
            and "@" not in parts.netloc
            and not parts.fragment
            and f"{parts.scheme}://{parts.netloc}".lower() in self.redirect_origins
        )

    def tokens_for(self, email: str, nonce: str | None = None) -> TokenResponse:
        claims = id_token_claims(
            issuer=self.url, audience=self.client_id, email=email, now=self.clock(), nonce=nonce
        )
        return TokenResponse(
            id_token=self.key.sign(claims),
            token_type="Bearer",  # noqa: S106 - the token's kind, not a secret
            expires_in=ID_TOKEN_SECONDS,
        )


class TokenResponse(BaseModel):
    id_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class DevTokenRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    email: str = Field(max_length=EMAIL_MAX_LENGTH, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _issuer() -> Issuer:
    issuer: Issuer = current_app.extensions["issuer"]
    return issuer


_R = TypeVar("_R", bound=WerkzeugResponse)


def _no_store(response: _R) -> _R:
    response.headers["Cache-Control"] = "no-store"
    return response


pages = Blueprint("issuer", __name__, template_folder="templates")


@pages.get("/.well-known/openid-configuration")
def discovery() -> Response:
    url = _issuer().url
    return jsonify(
        {
            "issuer": url,
            "authorization_endpoint": f"{url}/authorize",
            "token_endpoint": f"{url}/token",
            "jwks_uri": f"{url}/jwks.json",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "email"],
            "claims_supported": ["iss", "aud", "sub", "email", "email_verified", "iat", "exp"],
        }
    )


@pages.get("/jwks.json")
def jwks() -> Response:
    response = jsonify(_issuer().key.jwks())
    # The key lives as long as the process; a verifier meeting a new kid fetches again anyway.
    response.cache_control.public = True
    response.cache_control.max_age = 60
    return response


# Sign-in: /authorize


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    state: str
    code_challenge: str
    nonce: str | None
    scope: str


class BackToClient(Exception):
    """An authorization error for the client, sent to its redirect_uri."""

    def __init__(self, redirect_uri: str, state: str, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description


def back_to(redirect_uri: str, **params: str) -> WerkzeugResponse:
    """A 303 to `redirect_uri` with `params` added to its query."""
    parts = urlsplit(redirect_uri)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return _no_store(redirect(urlunsplit(parts._replace(query=query)), code=303))


@pages.errorhandler(BackToClient)
def _send_back(error: BackToClient) -> WerkzeugResponse:
    state = {"state": error.state} if error.state else {}
    return back_to(
        error.redirect_uri, error=error.error, error_description=error.description, **state
    )


def authorization_request(issuer: Issuer, params: Mapping[str, str]) -> AuthorizationRequest:
    client_id = params.get("client_id", "")
    if client_id != issuer.client_id:
        raise Problem(
            400,
            f"This issuer serves the client {issuer.client_id}, not {client_id[:64]!r}.",
            type_="unknown-client",
        )
    redirect_uri = params.get("redirect_uri", "")
    if not issuer.allows_redirect(redirect_uri):
        raise Problem(
            400,
            "The redirect_uri is not on an origin this issuer may send you back to "
            f"({', '.join(issuer.redirect_origins)}; set OIDC_REDIRECT_ORIGINS to change them).",
            type_="redirect-uri-not-allowed",
        )
    # From here on, errors go back to the client, which knows what it asked for.
    state = params.get("state", "")
    if len(state) > MAX_PARAMETER:
        state = ""

    def refuse(error: str, description: str) -> NoReturn:
        raise BackToClient(redirect_uri, state, error, description)

    if params.get("response_type") != "code":
        refuse("unsupported_response_type", "Only response_type=code is supported.")
    if not state:
        refuse("invalid_request", f"A state of 1 to {MAX_PARAMETER} characters is required.")
    if params.get("code_challenge_method") != "S256" or not CODE_CHALLENGE.fullmatch(
        params.get("code_challenge", "")
    ):
        refuse("invalid_request", "PKCE is required: code_challenge with method S256.")
    nonce = params.get("nonce") or None
    if nonce is not None and len(nonce) > MAX_PARAMETER:
        refuse("invalid_request", f"The nonce is longer than {MAX_PARAMETER} characters.")
    return AuthorizationRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        state=state,
        code_challenge=params["code_challenge"],
        nonce=nonce,
        scope=params.get("scope", "openid"),
    )


def sign_in_page(
    ask: AuthorizationRequest, *, email: str = "", error: str = "", status: int = 200
) -> Response:
    body = render_template(
        "sign_in.html",
        ask=ask,
        email=email,
        error=error,
        destination=urlsplit(ask.redirect_uri).netloc,
    )
    response = Response(body, status=status, mimetype="text/html")
    return _no_store(response)


@pages.get("/authorize")
def authorize() -> Response:
    return sign_in_page(authorization_request(_issuer(), request.args))


@pages.post("/authorize")
def sign_in() -> WerkzeugResponse:
    issuer = _issuer()
    ask = authorization_request(issuer, request.form)  # the page's hidden fields, checked again
    if request.form.get("action") == "cancel":
        raise BackToClient(ask.redirect_uri, ask.state, "access_denied", "Sign-in was cancelled.")
    email = request.form.get("email", "").strip()
    if not valid_email(email):
        message = "Enter an email address like name@example.com."
        return sign_in_page(ask, email=email[:EMAIL_MAX_LENGTH], error=message, status=400)
    code = issuer.codes.issue(
        client_id=ask.client_id,
        redirect_uri=ask.redirect_uri,
        code_challenge=ask.code_challenge,
        email=email,
        nonce=ask.nonce,
    )
    return back_to(ask.redirect_uri, code=code, state=ask.state)


# The token endpoint


def oauth_error(status: int, error: str, description: str) -> NoReturn:
    raise Problem(
        status,
        description,
        type_=error.replace("_", "-"),
        error=error,
        error_description=description,
    )


@pages.post("/token")
def token() -> Response:
    issuer = _issuer()
    if request.mimetype != FORM:
        oauth_error(415, "invalid_request", f"The token request must be a form ({FORM}).")
    form = request.form
    if form.get("grant_type") != "authorization_code":
        oauth_error(400, "unsupported_grant_type", "Only grant_type=authorization_code is served.")
    missing = [
        name
        for name in ("code", "code_verifier", "redirect_uri", "client_id")
        if not form.get(name)
    ]
    if missing:
        oauth_error(400, "invalid_request", f"The token request lacks {', '.join(missing)}.")
    if form["client_id"] != issuer.client_id:
        oauth_error(401, "invalid_client", f"This issuer serves the client {issuer.client_id}.")
    try:
        grant = issuer.codes.redeem(
            form["code"],
            client_id=form["client_id"],
            redirect_uri=form["redirect_uri"],
            code_verifier=form["code_verifier"],
        )
    except GrantError as error:
        oauth_error(400, "invalid_grant", str(error))
    return _no_store(json_response(issuer.tokens_for(grant.email, grant.nonce)))


@pages.after_request
def _token_endpoint_headers(response: Response) -> Response:
    """The store's page calls the token endpoint from its own origin: CORS for those origins."""
    if request.endpoint != "issuer.token":
        return response
    _no_store(response)
    response.vary.add("Origin")
    origin = request.headers.get("Origin", "")
    if origin.lower() in _issuer().redirect_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "600"
    return response


# Development only: a token for curl

dev = Api(
    "issuer_dev",
    prefix="/dev",
    title="Emporium development issuer: tokens for curl",
    version="1.0.0",
    description="Development only: an ID token for any email, no password. Never deploy it.",
)


@dev.post(
    "/token",
    summary="Development only: an ID token for an email, as a sign-in would give",
    body=DevTokenRequest,
    response=TokenResponse,
)
def dev_token(body: DevTokenRequest) -> Response:
    return _no_store(json_response(_issuer().tokens_for(body.email)))
