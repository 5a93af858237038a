"""AES-GCM sealing under 256-bit keys, and the master key that wraps data keys at rest.

Errors:
    CryptoError
    ├── BadMasterKey   a master key that is not base64 of 32 bytes, or not the one that wrapped
    └── SealBroken     a sealed value that does not open under its key and associated data
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from attrs import field, frozen
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "BadMasterKey",
    "CryptoError",
    "MasterKey",
    "SealBroken",
    "new_data_key",
    "open_sealed",
    "parse_master_key",
    "seal",
]

KEY_BYTES = 32
NONCE_BYTES = 12


class CryptoError(Exception):
    """Base of the sealing errors."""


class BadMasterKey(CryptoError):
    """The master key is malformed, or another master key wrapped the data key."""


class SealBroken(CryptoError):
    """A sealed value was tampered with, or is opened under the wrong key or context."""


def new_data_key() -> bytes:
    """Return 32 fresh random bytes for a data key."""
    return AESGCM.generate_key(bit_length=256)


def seal(aead: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    """Return a random nonce followed by the AES-GCM ciphertext and tag."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, plaintext, aad)


def open_sealed(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    """Return the plaintext of a sealed value, or raise SealBroken."""
    try:
        return aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise SealBroken("the sealed value does not open under this key and context") from None


@frozen
class MasterKey:
    """The configured key that wraps every data key; only its fingerprint is ever stored."""

    secret: bytes = field(repr=False)
    key_id: str = field(init=False)
    _aead: AESGCM = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise BadMasterKey(f"a master key is {KEY_BYTES} bytes, not {len(self.secret)}")
        digest = hashlib.sha256(b"chat-core master key id\x00" + self.secret).hexdigest()
        object.__setattr__(self, "key_id", digest[:16])
        object.__setattr__(self, "_aead", AESGCM(self.secret))

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        """Seal a data key, bound to what it is the key of."""
        return seal(self._aead, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Open a wrapped data key, or raise SealBroken."""
        return open_sealed(self._aead, wrapped, aad)


def parse_master_key(text: str) -> MasterKey:
    """Return the master key written as base64 of 32 bytes, else raise BadMasterKey."""
    try:
        secret = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BadMasterKey("the master key must be base64 of 32 random bytes") from None
    return MasterKey(secret)
