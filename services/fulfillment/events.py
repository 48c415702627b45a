"""The events fulfillment consumes, and how a stream message becomes one.

Fulfillment depends on orders' OrderPlaced event, version 1: its stream, its schema and the
rules both sides keep (at-least-once delivery, fields added only within a version) are
described once, where orders defines them, in `orders.events`. The models below are this
consumer's reading of that schema: strict types, unknown fields ignored.

A message that does not parse here (not JSON, an unknown `type` or `version`, a field missing
or of the wrong type) is malformed. No retry can fix it, so the worker moves it to the
dead-letter stream at once (see `fulfillment.worker`). Every effect of fulfillment is keyed by
`orderId`, so it does not matter which copy of an event, or how many, arrive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

EVENT_FIELD = b"event"  # the one field of a stream message


class MalformedEventError(ValueError):
    """The message is not an event this consumer knows; the message says why."""


class _Model(BaseModel):
    # Strict types, but unknown fields are ignored: producers may add fields within a version.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Money(_Model):
    amount: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class OrderLine(_Model):
    productId: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class OrderPlacedPayload(_Model):
    total: Money
    items: list[OrderLine] = Field(min_length=1)
    customerEmail: str = Field(min_length=3, max_length=320)
    paymentLast4: str = Field(pattern=r"^[0-9]{4}$")


class OrderPlaced(_Model):
    """An order was written and its cart emptied: charge it, then ship it."""

    id: str = Field(min_length=1, max_length=200)
    type: Literal["OrderPlaced"]
    version: Literal[1]
    time: AwareDatetime
    orderId: str = Field(min_length=1, max_length=200)
    payload: OrderPlacedPayload


class _Envelope(BaseModel):
    """Just enough of any event to tell which schema applies."""

    type: str
    version: int


def _summary(error: ValidationError) -> str:
    # Field paths and reasons only: values (an e-mail address, say) stay out of the message.
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'document'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)
    )


def parse_event(fields: Mapping[bytes, bytes]) -> OrderPlaced:
    """The event a stream message carries; MalformedEventError if it carries none we know."""
    document = fields.get(EVENT_FIELD)
    if document is None:
        raise MalformedEventError("the message has no 'event' field")
    try:
        envelope = _Envelope.model_validate_json(document)
    except ValidationError as error:
        raise MalformedEventError(f"not an event document: {_summary(error)}") from None
    if (envelope.type, envelope.version) != ("OrderPlaced", 1):
        raise MalformedEventError(
            f"unknown event type {envelope.type[:100]!r} version {envelope.version}"
        )
    try:
        return OrderPlaced.model_validate_json(document)
    except ValidationError as error:
        raise MalformedEventError(
            f"OrderPlaced v1 does not match its schema: {_summary(error)}"
        ) from None
