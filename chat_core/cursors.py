"""Opaque page cursors: a kind, an order and a position, base64url encoded."""

from __future__ import annotations

import base64
import binascii

from chat_core.errors import BadRequest

__all__ = ["decode_cursor", "encode_cursor"]

_URLSAFE = bytes.maketrans(b"+/", b"-_")


def encode_cursor(kind: str, order: str, position: int) -> str:
    """Make the opaque cursor of a position in a listing: unpadded base64url."""
    raw = f"{kind}:{order}:{position}".encode()
    # base64.urlsafe_b64encode, less its two Python layers: every page with more makes one.
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def decode_cursor(cursor: str, kind: str, order: str) -> int:
    """Return the position of a cursor made for this listing and order, else BadRequest."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        found_kind, found_order, digits = text.split(":")
        position = int(digits)
    except (ValueError, binascii.Error, UnicodeError):
        raise BadRequest("the cursor in 'after' is malformed") from None
    if len(cursor) > 64 or found_kind != kind or position < 0 or not digits.isdigit():
        raise BadRequest("the cursor in 'after' is malformed")
    if found_order != order:
        raise BadRequest(f"the cursor in 'after' was made for order={found_order}")
    return position
