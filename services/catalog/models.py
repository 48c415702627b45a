"""The catalog's API shapes. They validate requests and are the OpenAPI document's schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from emporium.models import Money, WholeNumber
from emporium.pagination import PageCursor, PageSize

CATEGORY_ID = r"[a-z0-9][a-z0-9-]{0,62}"
TAG = r"[a-z0-9][a-z0-9-]{0,31}"

CategoryId = Annotated[str, Field(pattern=f"^{CATEGORY_ID}$", description="A category's id")]


class Price(Money):
    """A product's price: at most a million dollars."""

    amount: WholeNumber = Field(ge=0, le=100_000_000)


class ProductWrite(BaseModel):
    """What an admin sends to create or replace a product."""

    model_config = ConfigDict(strict=True, extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    description: str = Field(default="", max_length=2000)
    category: CategoryId
    price: Price
    imageUrl: str = Field(default="", max_length=500)
    tags: list[Annotated[str, Field(pattern=f"^{TAG}$")]] = Field(default=[], max_length=20)


class Product(BaseModel):
    id: str
    name: str
    description: str
    category: str
    price: Money
    imageUrl: str
    tags: list[str]
    version: int = Field(ge=1, description="Increases on every write; send it back in If-Match")


class ProductPage(BaseModel):
    items: list[Product]
    nextCursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )


class Category(BaseModel):
    id: str
    name: str
    productCount: int


class CategoryList(BaseModel):
    items: list[Category]


class ListProductsQuery(BaseModel):
    category: CategoryId | None = None
    limit: PageSize = 20
    cursor: PageCursor | None = None
