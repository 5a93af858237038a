"""Webhooks: a tenant and env's events POSTed to a receiver, signed, in order, at least once.

- policy: which URLs may be called (no loopback, private, link-local, unique-local or
  metadata address unless configured), checked at registration and at each delivery.
- signing: the Standard Webhooks secret and signature.
- service: the admin routes' operations.
- dispatcher: the deliveries, from the log, by the one instance holding each webhook's lease.
"""

from chat_core.webhooks.dispatcher import Sender, SendResult, WebhookDispatcher
from chat_core.webhooks.policy import PolicyRefused, UrlPolicy
from chat_core.webhooks.service import WEBHOOK_ID_PATTERN, Webhooks

__all__ = [
    "WEBHOOK_ID_PATTERN",
    "PolicyRefused",
    "SendResult",
    "Sender",
    "UrlPolicy",
    "WebhookDispatcher",
    "Webhooks",
]
