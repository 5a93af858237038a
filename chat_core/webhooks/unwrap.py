"""Wrap a webhook's secret under the master key, bound to the webhook, and open it again."""

from __future__ import annotations

from events.crypto import MasterKey
from events.webhooks import Webhook, WebhookStore

__all__ = ["rewrap_webhooks", "webhook_aad", "webhook_key", "wrap_webhook_key"]


def webhook_aad(tenant: str, webhook_id: str) -> bytes:
    """Bind a wrapped secret to its webhook: copied to another row, it does not open."""
    return b"\x1f".join((b"chat-core webhook secret", tenant.encode(), webhook_id.encode()))


def wrap_webhook_key(master: MasterKey, tenant: str, webhook_id: str, key: bytes) -> bytes:
    """Return the secret sealed under the master key."""
    return master.wrap(key, webhook_aad(tenant, webhook_id))


def webhook_key(master: MasterKey, hook: Webhook) -> bytes:
    """Return a webhook's secret key material, or raise SealBroken under another master key."""
    return master.unwrap(hook.secret, webhook_aad(hook.tenant, hook.id))


async def rewrap_webhooks(store: WebhookStore, old: MasterKey, new: MasterKey) -> tuple[int, int]:
    """Rewrap every webhook secret from the old master key to the new one.

    Return how many were rewrapped and how many were under the new key already; a secret
    under neither is left alone (the key that wraps it is needed to move it).
    """
    rewrapped = done = 0
    for hook in await store.every_webhook():
        if hook.master_id == new.key_id:
            done += 1
        elif hook.master_id == old.key_id:
            key = webhook_key(old, hook)
            secret = wrap_webhook_key(new, hook.tenant, hook.id, key)
            if await store.rewrap(hook.id, secret, new.key_id, previous_master=old.key_id):
                rewrapped += 1
    return rewrapped, done
