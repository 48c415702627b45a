"""The issuer's business: its signing key, one-time authorization codes bound to a PKCE
challenge, and the ID tokens it signs. Signing and key handling are PyJWT's and cryptography's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ALGORITHM = "RS256"
ID_TOKEN_SECONDS = 3600
CODE_SECONDS = 60

# RFC 7636: a verifier is 43 to 128 unreserved characters; an S256 challenge is the base64url
# (unpadded) SHA-256 of one, always 43 characters.
CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# As the orders API accepts a customer's email.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EMAIL_MAX_LENGTH = 254

Clock = Callable[[], float]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def s256(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier."""
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def valid_email(email: str) -> bool:
    return len(email) <= EMAIL_MAX_LENGTH and EMAIL.fullmatch(email) is not None


def subject_of(email: str) -> str:
    """A stable `sub` for an email: the same person signs in as the same subject every time."""
    return "dev-" + hashlib.sha256(email.lower().encode()).hexdigest()[:32]


class SigningKey:
    """An RSA key pair made now, kept in memory; its `kid` is its RFC 7638 thumbprint."""

    def __init__(self) -> None:
        self._private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = RSAAlgorithm.to_jwk(self._private.public_key(), as_dict=True)
        members = {name: public[name] for name in ("e", "kty", "n")}  # the thumbprint's members
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        self.kid = _b64url(hashlib.sha256(canonical).digest())
        self.jwk: dict[str, Any] = {**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims, self._private, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": "JWT"}
        )


@dataclass(frozen=True)
class Grant:
    """What an authorization code stands for, until it is redeemed or expires."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    email: str
    nonce: str | None
    expires_at: float


class GrantError(Exception):
    """A code that cannot be redeemed: RFC 6749's `invalid_grant`. The message says why."""


class AuthorizationCodes:
    """One-time codes, each good for `CODE_SECONDS`. Redeeming takes the code whatever the
    outcome, so a wrong verifier cannot be followed by another guess."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._grants: dict[str, Grant] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        code_challenge: str,
        email: str,
        nonce: str | None,
    ) -> str:
        code = secrets.token_urlsafe(32)
        now = self._clock()
        grant = Grant(client_id, redirect_uri, code_challenge, email, nonce, now + CODE_SECONDS)
        with self._lock:
            # Codes nobody redeemed go as new ones come: the table stays as small as a minute's.
            for stale in [key for key, old in self._grants.items() if old.expires_at <= now]:
                del self._grants[stale]
            self._grants[code] = grant
        return code

    def redeem(self, code: str, *, client_id: str, redirect_uri: str, code_verifier: str) -> Grant:
        with self._lock:
            grant = self._grants.pop(code, None)
        if grant is None:
            raise GrantError("The code is unknown or was used already.")
        if grant.expires_at <= self._clock():
            raise GrantError("The code expired; sign in again.")
        if grant.client_id != client_id:
            raise GrantError("The code was issued to another client.")
        if grant.redirect_uri != redirect_uri:
            raise GrantError("The redirect_uri differs from the one the code was issued for.")
        if not CODE_VERIFIER.fullmatch(code_verifier) or not hmac.compare_digest(
            s256(code_verifier), grant.code_challenge
        ):
            raise GrantError("The code_verifier does not match the code_challenge.")
        return grant


def id_token_claims(
    *, issuer: str, audience: str, email: str, now: float, nonce: str | None = None
) -> dict[str, Any]:
    issued = int(now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject_of(email),
        "email": email,
        "email_verified": True,  # nothing was verified: a development sign-in takes your word
        "iat": issued,
        "auth_time": issued,
        "exp": issued + ID_TOKEN_SECONDS,
    }
    if nonce is not None:
        claims["nonce"] = nonce
    return claims
