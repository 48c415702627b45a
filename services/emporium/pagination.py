"""Opaque page cursors: base64url JSON naming where the last page ended and which listing it
belongs to. A cursor that does not decode, belongs to another listing or names a position that
does not look like one is a 400 problem, never a store error."""

from __future__ import annotations

import base64
import binascii
import json
import re

from emporium.problems import Problem


def encode_cursor(after: str, listing: str | None) -> str:
    raw = json.dumps({"after": after, "listing": listing}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, listing: str | None, position: re.Pattern[str]) -> str:
    """The position after which the next page starts; `position` is what one looks like."""
    invalid = Problem(400, "The cursor is not one this listing issued.", type_="invalid-cursor")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise invalid from None
    if not isinstance(data, dict) or data.get("listing") != listing:
        raise invalid
    after = data.get("after")
    if not isinstance(after, str) or not position.fullmatch(after):
        raise invalid
    return after
