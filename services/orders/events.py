"""The events orders publishes, and how: the one description of their schema.

Stream: `ORDERS_EVENTS_STREAM` (default `emporium:orders:events`), one Redis stream entry per
event (XADD), with a single field `event` holding the JSON document. Schema, version 1:

    {
      "id":      "<orderId>:OrderPlaced"   unique per event; a republished event keeps its id
      "type":    "OrderPlaced"
      "version": 1
      "time":    "2026-11-27T06:00:00.000Z"  when the order was placed (ISO 8601, UTC)
      "orderId": "ord-..."                 opaque
      "payload": {
        "total":         {"amount": 5497, "currency": "USD"},   integer minor units, ISO 4217
        "items":         [{"productId": "cast-iron-skillet", "quantity": 1}],
        "customerEmail": "ada@example.com",
        "paymentLast4":  "4242"            the last four digits of the card
      }
    }

Rules producer and consumers keep:
- Delivery is at least once: an order's event can appear more than once (a retried checkout,
  the outbox relay after a failure, a consumer's redelivery), so consumers key their effects
  by `orderId`.
- Within a version, fields may be added (consumers ignore fields they do not know); a change
  that removes a field or changes its meaning is a new `version`.
- The full card number is never in an event, nor stored: only its last four digits.

Its consumer, fulfillment, reads it in `fulfillment.events`; the unit tests of fulfillment
parse what `order_placed` here makes.
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
