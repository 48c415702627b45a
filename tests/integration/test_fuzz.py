"""Property-based requests generated from each service's own OpenAPI document (schemathesis),
sent through the edge to the running store: no 5xx, and every answer matches the document.

Driven through Hypothesis directly: schemathesis' pytest plugin does not run on pytest 9.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance
from tests.integration.conftest import Store

from devstack.stack import LOCAL_ADMIN_TOKEN

pytestmark = pytest.mark.integration

# Enough cases per operation to reach the validation edges, few enough for two cores.
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def fuzz(store: Store, service: str, headers: dict[str, str] | None = None) -> list[str]:
    """Fuzz every operation of the service; returns the operations tried."""
    schema = schemathesis.openapi.from_url(f"{store.url}/api/{service}/openapi.json")
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @FUZZ
        @given(case=operation.as_strategy())
        def answers_as_documented(case: Case) -> None:
            # Not "schema-valid means accepted": a well-formed cursor the listing never issued,
            # or a checkout of a cart that does not exist, is refused as documented (400/422).
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        answers_as_documented()
        tried.append(f"{operation.method.upper()} {operation.path}")
    return tried


def test_catalog_answers_every_request_as_documented(store: Store) -> None:
    tried = fuzz(store, "catalog", {"Authorization": f"Bearer {LOCAL_ADMIN_TOKEN}"})
    assert "PUT /api/catalog/products/{product_id}" in tried


def test_cart_answers_every_request_as_documented(store: Store) -> None:
    assert "PUT /api/cart/carts/{cart_id}/items/{product_id}" in fuzz(store, "cart")


def test_orders_answers_every_request_as_documented(store: Store) -> None:
    assert "POST /api/orders/orders" in fuzz(store, "orders")
