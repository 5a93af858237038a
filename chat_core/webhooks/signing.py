"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com/).

The secret is `whsec_` + base64 of random bytes; a signature is `v1,` + base64 of
HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the decoded secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["SECRET_BYTES", "new_secret", "secret_bytes", "secret_text", "sign"]

SECRET_BYTES = 24
PREFIX = "whsec_"


def new_secret() -> bytes:
    """Return fresh key material for a webhook."""
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(key: bytes) -> str:
    """Return the secret as a receiver configures it: whsec_ and base64."""
    return PREFIX + base64.b64encode(key).decode()


def secret_bytes(text: str) -> bytes:
    """Return the key material of a whsec_ secret."""
    return base64.b64decode(text.removeprefix(PREFIX))


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Return the webhook-signature header value of one message."""
    signed = b"%s.%d.%s" % (webhook_id.encode(), timestamp, body)
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()
