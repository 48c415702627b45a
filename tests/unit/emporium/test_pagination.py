"""Signed page cursors: what a client hands back verifies; what it makes up does not."""

from __future__ import annotations

import base64
import json
import re

import pytest

from emporium.pagination import Cursors
from emporium.problems import Problem

POSITION = re.compile(r"[a-z0-9-]{1,64}")
KEY = "unit-test-cursor-key-0123456789"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def refused(cursors: Cursors, cursor: str, listing: str | None = "kitchen") -> bool:
    with pytest.raises(Problem) as caught:
        cursors.decode(cursor, listing, POSITION)
    return (caught.value.status, caught.value.type_) == (400, "invalid-cursor")


def test_a_cursor_it_issued_decodes_to_its_position() -> None:
    cursors = Cursors(KEY, "products")
    cursor = cursors.encode("cast-iron-skillet", "kitchen")
    assert cursors.decode(cursor, "kitchen", POSITION) == "cast-iron-skillet"
    assert Cursors(KEY, "products").decode(cursor, "kitchen", POSITION) == "cast-iron-skillet"


def test_a_cursor_made_up_by_a_client_is_refused() -> None:
    cursors = Cursors(KEY, "products")
    payload = b64(json.dumps({"after": "zzz-made-up", "listing": "kitchen"}).encode())
    assert refused(cursors, payload)  # unsigned, as cursors used to be
    assert refused(cursors, payload + "." + b64(b"\0" * 16))  # signed with a guess


def test_changing_the_position_of_a_genuine_cursor_breaks_its_signature() -> None:
    cursors = Cursors(KEY, "products")
    _, tag = cursors.encode("bath-towel", "kitchen").split(".")
    forged = b64(json.dumps({"after": "zzz-skip-ahead"}).encode())
    assert refused(cursors, f"{forged}.{tag}")


def test_the_listing_is_signed_not_carried() -> None:
    cursor = Cursors(KEY, "orders").encode("2026-12-02T10:00:00.000Z#ord-1", "ada@example.com")
    payload = base64.urlsafe_b64decode(cursor.split(".")[0] + "==")
    assert b"ada" not in payload
    assert "ada" not in cursor


def test_a_cursor_of_another_listing_another_purpose_or_another_key_is_refused() -> None:
    cursors = Cursors(KEY, "products")
    cursor = cursors.encode("bath-towel", "kitchen")
    assert refused(cursors, cursor, listing="bath")
    assert refused(cursors, cursor, listing=None)
    assert refused(Cursors(KEY, "orders"), cursor)
    assert refused(Cursors("another-key-0123456789abcdef", "products"), cursor)


@pytest.mark.parametrize(
    "garbage", ["", ".", "not base64 at all!", "a.b.c", "%%%.%%%", "eyJ9.AAAA", "x" * 512]
)
def test_garbage_is_a_400_not_an_error(garbage: str) -> None:
    assert refused(Cursors(KEY, "products"), garbage)


def test_a_signed_cursor_whose_position_does_not_look_like_one_is_refused() -> None:
    cursors = Cursors(KEY, "products")
    assert refused(cursors, cursors.encode("../../etc/passwd", "kitchen"))
