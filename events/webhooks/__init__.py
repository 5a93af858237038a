"""Webhook registrations and their delivery state, kept beside the log in the store's database.

A webhook's checkpoint is the position of the last event it is done with (delivered or
parked); the events after it are its pending deliveries, read from the log. Rows are kept
only for what the log cannot say: the head event while it is retried, parked events, and
parked events replayed. A lease in the webhook's row names the one instance delivering.
"""

from events.webhooks.book import (
    Delivery,
    DeliveryStatus,
    Webhook,
    WebhookStore,
    open_webhook_store,
)

__all__ = ["Delivery", "DeliveryStatus", "Webhook", "WebhookStore", "open_webhook_store"]
