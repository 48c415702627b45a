"""The orders API's shapes. They validate requests and are the OpenAPI document's schemas."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from emporium.models import Money
from emporium.pagination import PageCursor, PageSize

# 32 hex digits: 128 random bits. 24: the ids made before, derived from Idempotency-Keys.
ORDER_ID = r"ord-(?:[0-9a-f]{32}|[0-9a-f]{24})"
CART_ID = r"[A-Za-z0-9_-]{1,64}"
IDEMPOTENCY_KEY = r"[A-Za-z0-9_.:-]{8,128}"

Status = Literal["PLACED", "PAID", "SHIPPED", "PAYMENT_DECLINED"]


class Address(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    line1: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postalCode: str = Field(min_length=2, max_length=16, pattern=r"^[A-Za-z0-9 -]+$")
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. US")


class Customer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    name: str = Field(min_length=1, max_length=120)
    address: Address


class Payment(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    card: str = Field(
        pattern=r"^[0-9]{12,19}$",
        description="Card number, digits only. Simulated: one ending in 0000 is declined.",
    )


class Checkout(BaseModel):
    """The body of a checkout."""

    model_config = ConfigDict(strict=True, extra="forbid")

    cartId: str = Field(pattern=f"^{CART_ID}$")
    customer: Customer
    payment: Payment
    expectedTotal: Money | None = Field(
        default=None,
        description=(
            "The total the shopper saw. If the cart's total at the catalog's current prices"
            " differs, the checkout is refused with 409 total-changed and its `total`, and"
            " nothing is written."
        ),
    )


class OrderItem(BaseModel):
    productId: str
    name: str
    quantity: int
    unitPrice: Money
    lineTotal: Money


class StatusChange(BaseModel):
    status: Status
    at: str


class Order(BaseModel):
    id: str
    status: Status
    items: list[OrderItem]
    total: Money
    customer: Customer
    paymentLast4: str
    createdAt: str
    statusHistory: list[StatusChange]


class OrderPage(BaseModel):
    items: list[Order]
    nextCursor: str | None


class ListOrdersQuery(BaseModel):
    """Whose orders comes from the ID token alone: naming an email is refused."""

    model_config = ConfigDict(extra="forbid")

    limit: PageSize = 20
    cursor: PageCursor | None = None


class StatusUpdate(BaseModel):
    """An internal status change, from fulfillment."""

    model_config = ConfigDict(strict=True, extra="forbid")

    status: Literal["PAID", "SHIPPED", "PAYMENT_DECLINED"]
