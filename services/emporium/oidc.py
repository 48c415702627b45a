"""OpenID Connect ID tokens, verified by the service itself.

A customer signs in at an OpenID Connect issuer (Amazon Cognito on EKS, a development issuer on
a laptop) and sends its ID token as `Authorization: Bearer <token>`. `IdTokenVerifier` checks
it with PyJWT: the signature against the issuer's published keys (JWKS, fetched and cached by
`jwt.PyJWKClient`; their URL comes from the issuer's discovery document, or from `OIDC_JWKS_URL`
where the issuer's public URL is out of the pod's reach), RS256 only, `iss`, `aud`, `exp`, and
an `email` the issuer has verified. Nothing is fetched until the first token arrives, so a
service starts and stays ready while the issuer is away.

In a request, `identity()` answers a missing or refused token with a 401 problem carrying
`WWW-Authenticate: Bearer realm="emporium"` (plus `error="invalid_token"` when a token was sent),
and an issuer whose keys cannot be fetched with a 503: that is not the customer's fault.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import jwt
import urllib3
from flask import request

from emporium.config import Env
from emporium.outbound import DependencyUnavailableError
from emporium.problems import Problem

log = logging.getLogger(__name__)

ALGORITHMS = ("RS256",)  # what the issuers sign ID tokens with; never "none" or an HMAC
CLOCK_SKEW_SECONDS = 30  # between the issuer's clock and ours, for exp, nbf and iat
DISCOVERY_PATH = "/.well-known/openid-configuration"
_URL_SCHEMES = ("http", "https")


@dataclass(frozen=True)
class OidcSettings:
    """Read under the service's prefix: `<PREFIX>OIDC_ISSUER`, `_AUDIENCE`, `_JWKS_URL`."""

    issuer: str
    audience: str
    jwks_url: str | None

    @classmethod
    def from_env(cls, env: Env) -> OidcSettings:
        jwks_url = None
        if env.optional("OIDC_JWKS_URL") is not None:
            jwks_url = env.url("OIDC_JWKS_URL", schemes=_URL_SCHEMES)
        return cls(
            issuer=env.url("OIDC_ISSUER", schemes=_URL_SCHEMES),
            audience=env.text("OIDC_AUDIENCE"),
            jwks_url=jwks_url,
        )


@dataclass(frozen=True)
class Identity:
    """Who a verified ID token says the customer is."""

    subject: str
    email: str


class TokenRejectedError(Exception):
    """The token is not one to accept; the message says why, for the client."""


class IssuerUnavailableError(Exception):
    """The issuer's discovery document or keys could not be fetched."""


class IdTokenVerifier:
    """Verifies ID tokens of one issuer for one audience. Thread-safe; one per process."""

    def __init__(
        self,
        settings: OidcSettings,
        *,
        timeout: float = 2.0,
        keys_lifespan: float = 300.0,
        realm: str = "emporium",
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.keys_lifespan = keys_lifespan
        self.realm = realm
        self._lock = threading.Lock()
        self._jwks: jwt.PyJWKClient | None = None

    def identity(self) -> Identity:
        """The customer of the current request, from its bearer token; a problem otherwise."""
        challenge = f'Bearer realm="{self.realm}"'
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Problem(
                401,
                "Sign in first: send your ID token as Authorization: Bearer <token>.",
                headers={"WWW-Authenticate": challenge},
            )
        try:
            return self.verify(token)
        except TokenRejectedError as error:
            raise Problem(
                401,
                f"The ID token is not accepted: {error}. Sign in again.",
                type_="invalid-token",
                headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
            ) from None
        except IssuerUnavailableError as error:
            log.warning("sign-in issuer unavailable", extra={"error": str(error)})
            raise DependencyUnavailableError("sign-in", 5.0) from None

    def verify(self, token: str) -> Identity:
        """The identity of a valid token; raises TokenRejectedError or IssuerUnavailableError."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejectedError("it is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:  # before any key is fetched: junk costs the issuer nothing
            raise TokenRejectedError(f"tokens signed with {algorithm!r} are not accepted")
        key = self._signing_key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.MissingRequiredClaimError as error:
            raise TokenRejectedError(f"it has no {error.claim} claim") from None
        except jwt.ExpiredSignatureError:
            raise TokenRejectedError("it has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejectedError("it is not yet valid") from None
        except jwt.InvalidAudienceError:
            raise TokenRejectedError("it was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRejectedError("it comes from another issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRejectedError("its signature does not verify") from None
        except jwt.PyJWTError as error:
            raise TokenRejectedError(f"it is malformed ({error})") from None
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise TokenRejectedError("it carries no email")
        verified = claims.get("email_verified")
        if verified is not True and verified != "true":  # some issuers send a string; 1 is not True
            raise TokenRejectedError("its email is not verified")
        return Identity(subject=str(claims.get("sub", "")), email=email)

    def _signing_key(self, kid: object) -> jwt.PyJWK:
        client = self._keys()
        try:
            client.get_signing_keys()  # the cached set, or a fetch: a failure is the issuer's
        except (jwt.PyJWTError, ValueError) as error:
            raise IssuerUnavailableError(f"keys from {client.uri}: {error}") from None
        try:
            # An unknown kid refetches the set at most once per cooldown (key rotation).
            return client.get_signing_key(str(kid))
        except jwt.PyJWKClientConnectionError as error:
            raise IssuerUnavailableError(f"keys from {client.uri}: {error}") from None
        except (jwt.PyJWTError, ValueError):
            raise TokenRejectedError("its key is not one the issuer publishes") from None

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None:
                url = self.settings.jwks_url or self._discover_jwks_url()
                self._jwks = jwt.PyJWKClient(
                    url, cache_jwk_set=True, lifespan=self.keys_lifespan, timeout=self.timeout
                )
            return self._jwks

    def _discover_jwks_url(self) -> str:
        """`jwks_uri` of the issuer's discovery document (OpenID Connect Discovery 1.0)."""
        url = self.settings.issuer.rstrip("/") + DISCOVERY_PATH
        try:
            response = urllib3.request(
                "GET", url, timeout=self.timeout, retries=False, redirect=False
            )
            document = response.json() if response.status == 200 else None
        except (urllib3.exceptions.HTTPError, ValueError) as error:
            raise IssuerUnavailableError(f"{url}: {error}") from None
        jwks_url = document.get("jwks_uri") if isinstance(document, dict) else None
        if not isinstance(jwks_url, str) or not jwks_url.startswith(("https://", "http://")):
            raise IssuerUnavailableError(f"{url} names no jwks_uri")
        return jwks_url
