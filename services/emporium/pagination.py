"""Signed page cursors.

A cursor names where the last page ended, and carries an HMAC, under the service's secret key,
of that position and of the listing it belongs to: a client can hand a cursor back, but cannot
mint one (a page key of its own making, or a page of its own to fill the cache with), nor move
one to another listing. The listing (a category, a customer's email) is signed, not carried:
it never shows in a URL or an access log. Its shape is `<base64url JSON>.<base64url tag>`. A
cursor that does not verify, belongs to another listing or names a position that does not look
like one is a 400 problem, never a store error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Annotated

from pydantic import Field

from emporium.problems import Problem

_TAG_BYTES = 16  # 128 bits: forging one is out of reach; a cursor stays short
# What a cursor looks like, for the OpenAPI documents: base64url JSON, a dot, a 22-character tag.
CURSOR = r"[A-Za-z0-9_-]{1,480}\.[A-Za-z0-9_-]{22}"

# A listing's query parameters: `limit: PageSize = 20` and `cursor: PageCursor | None = None`.
PageSize = Annotated[int, Field(ge=1, le=100, description="Page size, 1 to 100")]
PageCursor = Annotated[
    str,
    Field(
        max_length=512,
        pattern=f"^{CURSOR}$",
        description="The `nextCursor` of the previous page (signed: a made-up one is a 400)",
    ),
]


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Cursors:
    """Cursors of one kind of listing (`purpose`), signed with `key`."""

    def __init__(self, key: str, purpose: str) -> None:
        self._key = hashlib.sha256(f"emporium-cursor\0{purpose}\0{key}".encode()).digest()

    def _tag(self, payload: str, listing: str | None) -> bytes:
        signed = json.dumps([listing, payload]).encode()
        return hmac.new(self._key, signed, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, after: str, listing: str | None) -> str:
        payload = _b64encode(json.dumps({"after": after}).encode())
        return f"{payload}.{_b64encode(self._tag(payload, listing))}"

    def decode(self, cursor: str, listing: str | None, position: re.Pattern[str]) -> str:
        """The position after which the next page starts; `position` is what one looks like."""
        invalid = Problem(400, "The cursor is not one this listing issued.", type_="invalid-cursor")
        payload, _, tag = cursor.partition(".")
        try:
            genuine = hmac.compare_digest(_b64decode(tag), self._tag(payload, listing))
            data = json.loads(_b64decode(payload)) if genuine else None
        except (binascii.Error, ValueError):
            raise invalid from None
        if not isinstance(data, dict):
            raise invalid
        after = data.get("after")
        if not isinstance(after, str) or not position.fullmatch(after):
            raise invalid
        return after
