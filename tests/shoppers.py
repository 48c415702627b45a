"""What a shopper sends at checkout, for the unit and the integration tests alike."""

from __future__ import annotations

from typing import Any


def checkout_body(
    cart_id: str = "crt-1", card: str = "4242424242424242", **changes: Any
) -> dict[str, Any]:
    """A checkout of `cart_id` by Ada, paying with `card`; `changes` replace whole fields."""
    body = {
        "cartId": cart_id,
        "customer": {
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "address": {
                "line1": "1 Analytical St",
                "city": "London",
                "postalCode": "N1 9GU",
                "country": "GB",
            },
        },
        "payment": {"card": card},
    }
    return {**body, **changes}
