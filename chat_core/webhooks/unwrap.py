"""Wrap a webhook's secret under the master key, bound to the webhook, and open it again."""

from __future__ import annotations

from events.crypto import MasterKey
from events.webhooks import Webhook

__all__ = ["webhook_aad", "webhook_key", "wrap_webhook_key"]


def webhook_aad(tenant: str, webhook_id: str) -> bytes:
    """Bind a wrapped secret to its webhook: copied to another row, it does not open."""
    return b"\x1f".join((b"chat-core webhook secret", tenant.encode(), webhook_id.encode()))


def wrap_webhook_key(master: MasterKey, tenant: str, webhook_id: str, key: bytes) -> bytes:
    """Return the secret sealed under the master key."""
    return master.wrap(key, webhook_aad(tenant, webhook_id))


def webhook_key(master: MasterKey, hook: Webhook) -> bytes:
    """Return a webhook's secret key material, or raise SealBroken under another master key."""
    return master.unwrap(hook.secret, webhook_aad(hook.tenant, hook.id))
