"""The shared bearer-token check of internal operations: 401 without credentials (with the
challenge), 403 with wrong ones, through only with exactly the configured token."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emporium import problems
from emporium.api import require_bearer_token

TOKEN = "s3cret-internal-token"


@pytest.fixture
def client() -> FlaskClient:
    app = Flask(__name__)
    problems.init_app(app)

    @app.put("/internal")
    def internal() -> dict[str, bool]:
        require_bearer_token(TOKEN)
        return {"ok": True}

    return app.test_client()


def test_the_configured_token_passes(client: FlaskClient) -> None:
    response = client.put("/internal", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", f"Basic {TOKEN}", TOKEN])
def test_missing_credentials_are_401_with_the_challenge(
    client: FlaskClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.put("/internal", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="emporium"'


@pytest.mark.parametrize(
    "token", [TOKEN[:-1], TOKEN[1:], TOKEN[:6], TOKEN + "x", TOKEN.upper(), "other"]
)
def test_a_wrong_or_partial_token_is_403(client: FlaskClient, token: str) -> None:
    response = client.put("/internal", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "WWW-Authenticate" not in response.headers
