"""The webhook admin operations: register (the secret shown once), list, show, deliveries,
replay and delete; admins only, each webhook of one tenant and env."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from attrs import frozen

from chat_core.consumers import check_types
from chat_core.context import AuthContext, RequestContext, Role, require_role
from chat_core.errors import BadRequest, NotFound, ValidationFailed
from chat_core.views import rfc3339
from chat_core.webhooks.dispatcher import WebhookDispatcher
from chat_core.webhooks.policy import PolicyRefused, UrlPolicy
from chat_core.webhooks.signing import new_secret, secret_text
from chat_core.webhooks.unwrap import wrap_webhook_key
from events.crypto import MasterKey
from events.store.base import EventStore
from events.webhooks import Delivery, DeliveryStatus, Webhook, WebhookStore

__all__ = ["WEBHOOK_ID_PATTERN", "DeliveryPage", "Webhooks", "webhook_json"]

WEBHOOK_ID_PATTERN = "^wh_[A-Za-z0-9_-]{1,64}$"
_WEBHOOK_ID = re.compile(WEBHOOK_ID_PATTERN)
MAX_DESCRIPTION = 500


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """Return a webhook as the routes show it, without its secret."""
    return {
        "id": hook.id,
        "url": hook.url,
        "types": list(hook.types),
        "description": hook.description,
        "status": "active",
        "created_at": rfc3339(hook.created_at),
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """Return a delivery as the deliveries page shows it."""
    due = delivery.next_attempt_at
    return {
        "event_id": delivery.event_id,
        "position": delivery.position,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "next_attempt_at": None if due is None else rfc3339(datetime.fromtimestamp(due, UTC)),
        "status": delivery.status.value,
    }


@frozen(kw_only=True)
class DeliveryPage:
    """A page of a webhook's deliveries by position."""

    deliveries: list[Delivery]
    has_more: bool

    def to_json(self) -> dict[str, Any]:
        """Return the contract's page shape; `next` is the last position as a cursor."""
        data = [delivery_json(delivery) for delivery in self.deliveries]
        last = str(self.deliveries[-1].position) if self.has_more and self.deliveries else None
        return {"data": data, "has_more": self.has_more, "next": last}


class Webhooks:
    """Register, show and manage a tenant and env's webhooks."""

    def __init__(
        self,
        *,
        store: EventStore,
        webhooks: WebhookStore,
        master: MasterKey,
        policy: UrlPolicy,
        dispatcher: WebhookDispatcher,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self.webhooks = webhooks
        self._master = master
        self.policy = policy
        self.dispatcher = dispatcher
        self._clock = clock

    async def create(
        self,
        context: RequestContext,
        auth: AuthContext,
        *,
        url: str,
        types: Sequence[str],
        description: str | None,
    ) -> dict[str, Any]:
        """Register a webhook for the events from now on; its secret is in this answer only."""
        require_role(context, auth, Role.ADMIN)
        if description is not None and not 1 <= len(description) <= MAX_DESCRIPTION:
            raise ValidationFailed(
                "bad description", [("description", f"must be 1 to {MAX_DESCRIPTION} characters")]
            )
        check_types(types)
        try:
            await self.policy.vet(url)
        except PolicyRefused as exc:
            raise ValidationFailed("the webhook URL is refused", [("url", str(exc))]) from None
        webhook_id = "wh_" + secrets.token_urlsafe(16)
        key = new_secret()
        hook = Webhook(
            id=webhook_id,
            tenant=context.tenant,
            env=context.env,
            url=url,
            types=tuple(types),
            description=description,
            secret=wrap_webhook_key(self._master, context.tenant, webhook_id, key),
            master_id=self._master.key_id,
            created_at=self._clock(),
            position=await self._store.head_position(),
        )
        await self.webhooks.create(hook)
        self.dispatcher.poke()
        return {**webhook_json(hook), "secret": secret_text(key)}

    async def list(self, context: RequestContext, auth: AuthContext) -> list[Webhook]:
        """Return this tenant and env's webhooks by id."""
        require_role(context, auth, Role.ADMIN)
        return await self.webhooks.for_tenant(context.tenant, context.env)

    async def get(self, context: RequestContext, auth: AuthContext, webhook_id: str) -> Webhook:
        """Return one webhook, or 404."""
        require_role(context, auth, Role.ADMIN)
        hook = None
        if _WEBHOOK_ID.fullmatch(webhook_id) is not None:
            hook = await self.webhooks.get(context.tenant, context.env, webhook_id)
        if hook is None:
            raise NotFound(f"no webhook {webhook_id} in this tenant and env")
        return hook

    async def deliveries(
        self,
        context: RequestContext,
        auth: AuthContext,
        webhook_id: str,
        *,
        status: DeliveryStatus | None,
        after: str | None,
        limit: int,
    ) -> DeliveryPage:
        """Page through the webhook's deliveries by position: pending, failed, parked or all.

        Pending ones are the log's events after the checkpoint that have no row yet, and
        replayed parked ones; failed is the head event while it is retried.
        """
        hook = await self.get(context, auth, webhook_id)
        if after is not None and not after.isdigit():
            raise BadRequest("after must be a cursor from a previous page")
        start = int(after or 0)
        rows = await self.webhooks.deliveries(hook.id, status=status, after=start, limit=limit + 1)
        found = {row.position: row for row in rows}
        if status in (None, DeliveryStatus.PENDING):
            head = await self.webhooks.due(hook.id)
            async for item in self._store.read_all(
                after_position=max(start, hook.position),
                event_filter=hook.event_filter(),
                limit=limit + 1,
            ):
                if head is not None and item.position == head.position:
                    continue
                found.setdefault(
                    item.position,
                    Delivery(
                        webhook_id=hook.id,
                        position=item.position,
                        event_id=str(item.event.event_id),
                        attempts=0,
                        last_status=None,
                        last_error=None,
                        next_attempt_at=None,
                        status=DeliveryStatus.PENDING,
                    ),
                )
        ordered = [found[position] for position in sorted(found)]
        return DeliveryPage(deliveries=ordered[:limit], has_more=len(ordered) > limit)

    async def replay(self, context: RequestContext, auth: AuthContext, webhook_id: str) -> int:
        """Make the webhook's parked deliveries pending again; return how many."""
        hook = await self.get(context, auth, webhook_id)
        count = await self.webhooks.replay(hook.id)
        self.dispatcher.poke()
        return count

    async def delete(self, context: RequestContext, auth: AuthContext, webhook_id: str) -> None:
        """Forget a webhook and its deliveries, or 404."""
        hook = await self.get(context, auth, webhook_id)
        if not await self.webhooks.delete(context.tenant, context.env, hook.id):
            raise NotFound(f"no webhook {webhook_id} in this tenant and env")
        self.dispatcher.poke()
