"""schemathesis' command line against each running service: `st run --checks all` from the
service's own OpenAPI document, through the store's entry point (and the internal APIs on the
services' own ports), with the bearer tokens each needs. Zero failures: no 5xx, no answer that
breaks the document, nothing refused that the document allows, nothing accepted that it forbids.

The statuses a check also accepts for an operation, and why, are in `schemathesis.toml` beside
this file. The seed is fixed so a run repeats; set SCHEMATHESIS_SEED to explore others.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.integration.conftest import Store

from devstack.stack import LOCAL_ADMIN_TOKEN

pytestmark = pytest.mark.integration

CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = Path(sys.executable).with_name("st")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261202")
EXAMPLES = "30"  # cases per operation and phase: enough to reach the edges, few enough for 2 cores


def st_run(openapi_url: str, cwd: Path, *headers: str) -> None:
    command = [str(ST), "--no-color", "--config-file", str(CONFIG), "run", openapi_url]
    command += ["--checks", "all", "--max-examples", EXAMPLES, "--seed", SEED]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stdout}\n{done.stderr}"
    assert "Tested:" in done.stdout, done.stdout  # operations were really called


def test_catalog(store: Store, tmp_path: Path) -> None:
    st_run(
        f"{store.url}/api/catalog/openapi.json",
        tmp_path,
        f"Authorization: Bearer {LOCAL_ADMIN_TOKEN}",
    )


def test_cart(store: Store, tmp_path: Path) -> None:
    st_run(f"{store.url}/api/cart/openapi.json", tmp_path)


def test_orders(store: Store, tmp_path: Path) -> None:
    token = store.id_token("schemathesis@example.com")  # the listing is a signed-in customer's
    st_run(f"{store.url}/api/orders/openapi.json", tmp_path, f"Authorization: Bearer {token}")


def test_the_internal_apis_on_the_services_own_ports(store: Store, tmp_path: Path) -> None:
    internal_token = store.env["ORDERS_INTERNAL_TOKEN"]  # fulfillment's, for status changes
    st_run(
        f"{store.ports.url('orders')}/internal/orders/openapi.json",
        tmp_path,
        f"Authorization: Bearer {internal_token}",
    )
    st_run(f"{store.ports.url('catalog')}/internal/catalog/openapi.json", tmp_path)
