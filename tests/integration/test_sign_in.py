"""The README's "Sign-in" works as written against the store as `make run` starts it: the
development issuer's token for curl, and the orders it lists."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jwt
import pytest
from tests.integration.conftest import Store

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def sign_in_script(store: Store) -> list[str]:
    """The section's shell lines, continuations joined, pointed at this store and issuer."""
    body = README.read_text().split("## Sign-in\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", body, flags=re.DOTALL)
    block = block.replace("http://localhost:8080", store.url)
    block = block.replace("http://127.0.0.1:8086", store.ports.issuer_url)
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def run(lines: list[str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_readme_s_token_is_one_orders_accepts(store: Store) -> None:
    lines = sign_in_script(store)
    token_line = next(i for i, line in enumerate(lines) if line.startswith("TOKEN="))
    token = run([*lines[: token_line + 1], 'echo "$TOKEN"']).strip()
    keys = jwt.PyJWKClient(store.ports.issuer_url + "/jwks.json")
    claims = jwt.decode(
        token,
        keys.get_signing_key_from_jwt(token),
        algorithms=["RS256"],
        audience=store.env["ORDERS_OIDC_AUDIENCE"],
        issuer=store.env["ORDERS_OIDC_ISSUER"],
    )
    assert claims["email"] == "ada@example.com"
    assert claims["email_verified"] is True


def test_the_readme_lists_the_orders_of_the_token_s_address(store: Store) -> None:
    placed = store.checkout(store.cart_with(("linen-tea-towels", 1)))  # by ada@example.com
    assert placed.status_code == 201, placed.text
    listing = json.loads(run(sign_in_script(store)).strip().splitlines()[-1])
    assert placed.json()["id"] in [order["id"] for order in listing["items"]]
    assert all(order["customer"]["email"] == "ada@example.com" for order in listing["items"])


def test_without_a_token_the_listing_asks_for_one(store: Store) -> None:
    response = store.call("GET", "/api/orders/orders")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
