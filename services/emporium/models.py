"""Shapes and patterns more than one service uses, defined once.

- `PRODUCT_ID`: a catalog product's id; cart and orders check ids against it before they ask.
- `REQUEST_ID`: an `X-Request-ID` a service takes from its caller (else it makes one).
- `WholeNumber`: an integer as JSON Schema means it, so `30.0` is 30 (JSON has one number type
  and the OpenAPI documents say `integer`), while strings and booleans are still refused.
- `Money`: an amount in minor units with its ISO 4217 currency.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

PRODUCT_ID = r"[a-z0-9][a-z0-9_-]{0,63}"
REQUEST_ID = r"[A-Za-z0-9._:-]{1,128}"


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_integral)]


class Money(BaseModel):
    """An amount in minor units (cents) with its ISO 4217 currency."""

    model_config = ConfigDict(strict=True, extra="forbid")

    amount: WholeNumber = Field(ge=0)
    currency: Literal["USD"]
