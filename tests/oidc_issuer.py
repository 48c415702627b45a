"""A tiny OpenID Connect issuer for the tests: an RSA key made here, its discovery document and
JWKS served on loopback (a `tests.neighbours` fake: the verifier under test dials its URL), and
ID tokens signed with that key.

    with LocalIssuer() as issuer:
        token = issuer.token("ada@example.com")         # valid for `issuer.audience`
        issuer.token("ada@example.com", exp=-60)         # claims override; None drops one

`paths` records what was fetched, so a test can tell whether keys were cached.
"""

from __future__ import annotations

import base64
import json
import time
from contextlib import ExitStack
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.neighbours import Neighbour, serve
from werkzeug.wrappers import Request, Response

AUDIENCE = "emporium-ui"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class LocalIssuer(Neighbour):
    """The issuer at `url` while it is entered: `/.well-known/openid-configuration` and `/jwks`."""

    def __init__(self, audience: str = AUDIENCE, kid: str = "test-key-1") -> None:
        super().__init__()
        self.audience = audience
        self.kid = kid
        self.key = new_key()
        self.paths: list[str] = []
        self.jwks_status = 200  # set to 500 to play an issuer whose key endpoint fails
        self._serving = ExitStack()

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def __enter__(self) -> LocalIssuer:
        self._serving.enter_context(serve(self))
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.close()

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def claims(self, email: str | None = "ada@example.com", **changes: Any) -> dict[str, Any]:
        """ID token claims; `exp` in `changes` is seconds from now; a None value drops a claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "sub": f"sub-{email}",
            "iat": now,
            "exp": now + 300,
            "email": email,
            "email_verified": True,
        }
        if "exp" in changes and changes["exp"] is not None:
            changes["exp"] = now + changes["exp"]
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        email: str | None = "ada@example.com",
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        **changes: Any,
    ) -> str:
        """An RS256 ID token signed by this issuer's key (or `key`)."""
        return jwt.encode(
            self.claims(email, **changes),
            key or self.key,
            algorithm="RS256",
            headers={"kid": kid or self.kid},
        )

    def answer(self, request: Request) -> Response:
        with self._lock:
            self.paths.append(request.path)
        status, body = 404, {}
        if request.path == "/.well-known/openid-configuration":
            status, body = 200, {"issuer": self.url, "jwks_uri": self.jwks_url}
        elif request.path == "/jwks":
            status, body = self.jwks_status, self.jwks()
        return Response(json.dumps(body), status=status, mimetype="application/json")
