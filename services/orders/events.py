"""The events orders publishes, and how.

Stream: `ORDERS_EVENTS_STREAM` (default `emporium:orders:events`), one Redis stream entry per
event, with a single field `event` holding the JSON document. Schema, version 1:

    {
      "id":      "<orderId>:OrderPlaced"   unique per event; a republished event keeps its id
      "type":    "OrderPlaced"
      "version": 1
      "time":    "2026-11-27T06:00:00.000Z"  when the order was placed (ISO 8601, UTC)
      "orderId": "ord-..."
      "payload": {
        "total":         {"amount": 5497, "currency": "USD"},
        "items":         [{"productId": "cast-iron-skillet", "quantity": 1}],
        "customerEmail": "ada@example.com",
        "paymentLast4":  "4242"
      }
    }

Delivery is at least once: an order's event can appear more than once (a retried checkout, the
outbox relay after a failure), so consumers key their effects by `orderId`. The full card
number is never in an event, nor stored: only its last four digits.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from orders.models import Order

ORDER_PLACED = "OrderPlaced"
SCHEMA_VERSION = 1


def order_placed(order: Order) -> dict[str, Any]:
    return {
        "id": f"{order.id}:{ORDER_PLACED}",
        "type": ORDER_PLACED,
        "version": SCHEMA_VERSION,
        "time": order.createdAt,
        "orderId": order.id,
        "payload": {
            "total": order.total.model_dump(),
            "items": [{"productId": i.productId, "quantity": i.quantity} for i in order.items],
            "customerEmail": order.customer.email,
            "paymentLast4": order.paymentLast4,
        },
    }


class EventPublisher:
    def __init__(self, client: redis.Redis, stream: str, max_length: int = 1_000_000) -> None:
        self.client = client
        self.stream = stream
        self.max_length = max_length

    def publish_order_placed(self, order: Order) -> None:
        """Append the event; raises redis.RedisError when Redis does not take it."""
        event = json.dumps(order_placed(order), separators=(",", ":"))
        # Approximate trimming keeps the stream bounded without slowing every append.
        self.client.xadd(self.stream, {"event": event}, maxlen=self.max_length, approximate=True)
