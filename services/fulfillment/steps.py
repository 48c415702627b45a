"""The business steps of fulfilling an order, each safe to repeat.

For an `OrderPlaced`:
1. Charge (simulated and deterministic: a card ending in 0000 is declined, any other is
   approved). The decision is recorded once in fulfillment's DynamoDB table
   (`payment#<orderId>`, a conditional put; see `fulfillment.store`); when a decision is
   already there it is read back and used instead, so an order is never charged twice.
2. Tell orders: `PAID`, or `PAYMENT_DECLINED`, and stop there.
3. Ship (simulated), recorded once as `shipment#<orderId>`, then tell orders `SHIPPED`.

A worker can die between any two steps; the message is then delivered again and every step
runs again: a recorded charge or shipment is read back, not made again, and orders answers a
transition the order has already made with 200, or with 409 and a `currentStatus` showing the
step happened (an order already SHIPPED when told PAID). Both count as done. The records are
in DynamoDB, not Redis, so an eviction or a failover of Redis cannot make an order charged or
shipped twice. DynamoDB failing is no fault of the message: the step asks to be retried later.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Literal, TypeVar
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError
from prometheus_client import Counter
from pydantic import BaseModel

from emporium.outbound import DependencyUnavailableError, ServiceClient
from fulfillment.events import OrderPlaced
from fulfillment.store import FulfillmentStore, Kind

log = logging.getLogger(__name__)

DECLINED_CARD_LAST4 = "0000"  # the test card: its charges are always declined

EFFECTS = Counter(
    "fulfillment_effects_total", "Charges and shipments made (the first time only)", ["effect"]
)

Status = Literal["PAID", "SHIPPED", "PAYMENT_DECLINED"]

# A 409 whose currentStatus is one of these means the transition asked for already happened.
_ALREADY_DONE: dict[Status, frozenset[str]] = {
    "PAID": frozenset({"PAID", "SHIPPED"}),
    "PAYMENT_DECLINED": frozenset({"PAYMENT_DECLINED"}),
    "SHIPPED": frozenset({"SHIPPED"}),
}


class RetryLaterError(Exception):
    """A dependency cannot take the call now: orders is unavailable or refuses our credentials,
    or fulfillment's DynamoDB table cannot be read or written.

    Nothing is wrong with the message; the worker keeps it and tries again after a pause.
    """


class StepRefusedError(Exception):
    """Orders refused a step for this order (no such order, a conflicting status, ...)."""


class Payment(BaseModel):
    """The charge decision recorded for an order; `amount` in minor units of `currency`."""

    decision: Literal["approved", "declined"]
    chargeId: str
    amount: int
    currency: str
    time: str


class Shipment(BaseModel):
    trackingNumber: str
    time: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _digest(kind: str, order_id: str) -> str:
    # Ids derived from the order, as a real provider's idempotency key would make them.
    return hashlib.sha256(f"{kind}:{order_id}".encode()).hexdigest()


class OrdersClient:
    """Orders' internal status API: `PUT /internal/orders/{id}/status` with a bearer token."""

    def __init__(self, client: ServiceClient, token: str) -> None:
        self.client = client
        self.token = token

    def set_status(self, order_id: str, status: Status) -> None:
        """Returns once orders shows the transition made (now or before); raises otherwise."""
        try:
            reply = self.client.request(
                "PUT",
                f"/internal/orders/{quote(order_id, safe='')}/status",
                body={"status": status},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        except DependencyUnavailableError as error:
            raise RetryLaterError(f"orders is unavailable ({error.detail})") from error
        if reply.status == 200:
            return
        if reply.status == 409:
            current = _current_status(reply.body)
            if current in _ALREADY_DONE[status]:
                return
            raise StepRefusedError(f"orders refused {status} for order {order_id}: it is {current}")
        if reply.status in (401, 403):
            # Every order would fail the same way: hold on, do not dead-letter them all.
            raise RetryLaterError(
                f"orders refused the credentials (HTTP {reply.status}): "
                "check FULFILLMENT_ORDERS_TOKEN"
            )
        if reply.status == 429:
            raise RetryLaterError("orders asks to slow down (HTTP 429)")
        raise StepRefusedError(f"orders answered HTTP {reply.status} to {status} for {order_id}")


def _current_status(body: bytes) -> str:
    """The `currentStatus` of a 409 problem document, or "unknown"."""
    try:
        value = json.loads(body).get("currentStatus")
    except (ValueError, AttributeError):
        return "unknown"
    return value if isinstance(value, str) else "unknown"


Record = TypeVar("Record", Payment, Shipment)


@contextlib.contextmanager
def _records_unavailable_means_retry_later() -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        # Unreachable, throttled, or misconfigured: every order would fail alike; hold on.
        raise RetryLaterError(f"fulfillment's DynamoDB table is unavailable ({error})") from error


class Fulfillment:
    """Charges and ships one order: `fulfillment(event)` runs every step, each idempotent."""

    def __init__(
        self, store: FulfillmentStore, orders: OrdersClient, *, clock: Callable[[], str] = _now
    ) -> None:
        self.store = store
        self.orders = orders
        self.clock = clock

    def __call__(self, event: OrderPlaced) -> None:
        payment = self.charge(event)
        if payment.decision == "declined":
            self.orders.set_status(event.orderId, "PAYMENT_DECLINED")
            return
        self.orders.set_status(event.orderId, "PAID")
        self.ship(event)
        self.orders.set_status(event.orderId, "SHIPPED")

    def charge(self, event: OrderPlaced) -> Payment:
        """The order's charge decision: made and recorded now, or read back if recorded."""
        approved = event.payload.paymentLast4 != DECLINED_CARD_LAST4
        payment = Payment(
            decision="approved" if approved else "declined",
            chargeId="ch_" + _digest("charge", event.orderId)[:24],
            amount=event.payload.total.amount,
            currency=event.payload.total.currency,
            time=self.clock(),
        )
        if self._record_once("payment", event.orderId, payment):
            EFFECTS.labels("charge").inc()
            log.info(
                "charged",
                extra={
                    "orderId": event.orderId,
                    "decision": payment.decision,
                    "chargeId": payment.chargeId,
                },
            )
            return payment
        return self._recorded("payment", event.orderId, Payment)

    def ship(self, event: OrderPlaced) -> Shipment:
        """The order's shipment: made and recorded now, or read back if recorded."""
        number = int(_digest("ship", event.orderId)[:15], 16) % 10**12
        shipment = Shipment(trackingNumber=f"EMP{number:012d}", time=self.clock())
        if self._record_once("shipment", event.orderId, shipment):
            EFFECTS.labels("ship").inc()
            log.info(
                "shipped",
                extra={"orderId": event.orderId, "trackingNumber": shipment.trackingNumber},
            )
            return shipment
        return self._recorded("shipment", event.orderId, Shipment)

    def _record_once(self, kind: Kind, order_id: str, record: BaseModel) -> bool:
        with _records_unavailable_means_retry_later():
            return self.store.add(kind, order_id, record.model_dump())

    def _recorded(self, kind: Kind, order_id: str, model: type[Record]) -> Record:
        with _records_unavailable_means_retry_later():
            fields = self.store.get(kind, order_id)
        if fields is None:  # records are never deleted: only a hand-edited table gets here
            raise StepRefusedError(f"the {kind} record of order {order_id} is gone")
        return model.model_validate({name: fields[name] for name in model.model_fields})
