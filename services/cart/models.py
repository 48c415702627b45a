"""The cart's API shapes. They validate requests and are the OpenAPI document's schemas."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from emporium.models import Money, WholeNumber

CART_ID = r"crt-[0-9a-f]{24}"
MAX_QUANTITY = 99


class CartItem(BaseModel):
    """One line of a cart: a product at the unit price it had when it was first added."""

    productId: str
    name: str
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unitPrice: Money = Field(description="The catalog's price when the line was added")
    lineTotal: Money

    @classmethod
    def priced(cls, product_id: str, name: str, quantity: int, unit_price: Money) -> CartItem:
        return cls(
            productId=product_id,
            name=name,
            quantity=quantity,
            unitPrice=unit_price,
            lineTotal=Money(amount=unit_price.amount * quantity, currency=unit_price.currency),
        )


class Cart(BaseModel):
    id: str
    items: list[CartItem]
    subtotal: Money = Field(description="The sum of the line totals")
    expiresAt: datetime = Field(description="When the cart is dropped; every change extends it")

    @classmethod
    def of(cls, cart_id: str, items: list[CartItem], expires_at: int) -> Cart:
        """The cart with its subtotal, expiring at `expires_at` (epoch seconds)."""
        return cls(
            id=cart_id,
            items=items,
            subtotal=Money(amount=sum(item.lineTotal.amount for item in items), currency="USD"),
            expiresAt=datetime.fromtimestamp(expires_at, tz=UTC),
        )


class ItemWrite(BaseModel):
    """What a shopper sends to add a product or change its quantity."""

    model_config = ConfigDict(strict=True, extra="forbid")

    quantity: WholeNumber = Field(ge=1, le=MAX_QUANTITY, description="1 to 99")


class CatalogProduct(BaseModel):
    """The part of the catalog's product the cart uses (not part of the cart's API)."""

    id: str
    name: str
    price: Money
