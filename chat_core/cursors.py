"""Opaque page cursors: a kind, an order and a position, base64url encoded.

A position is a global log position (threads) or a seq (messages): never above 2^53, the
largest integer every JSON client reads exactly, and far from the 64-bit integers SQLite
and PostgreSQL hold. A cursor past it is none a listing made, so it is refused as
malformed before any store sees its number.
"""

from __future__ import annotations

import base64
import binascii

from chat_core.errors import BadRequest

__all__ = ["MAX_POSITION", "decode_cursor", "encode_cursor"]

MAX_POSITION = 2**53
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_MALFORMED = "the cursor in 'after' is malformed"


def encode_cursor(kind: str, order: str, position: int) -> str:
    """Make the opaque cursor of a position in a listing: unpadded base64url."""
    raw = f"{kind}:{order}:{position}".encode()
    # base64.urlsafe_b64encode, less its two Python layers: every page with more makes one.
    return binascii.b2a_base64(raw, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def decode_cursor(cursor: str, kind: str, order: str) -> int:
    """Return the position of a cursor made for this listing and order, else BadRequest."""
    if len(cursor) > 64:
        raise BadRequest(_MALFORMED)
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
        found_kind, found_order, digits = text.split(":")
    except (ValueError, binascii.Error, UnicodeError):
        raise BadRequest(_MALFORMED) from None
    # isdigit before int: int() also takes a sign, spaces and underscores.
    if found_kind != kind or not digits.isdigit() or int(digits) > MAX_POSITION:
        raise BadRequest(_MALFORMED)
    if found_order != order:
        raise BadRequest(f"the cursor in 'after' was made for order={found_order}")
    return int(digits)
