"""Deliver each webhook's events from the log, in order, from the one instance leasing it.

Every instance runs a dispatcher. Each poll (or when told something changed) it claims the
lease of every webhook no live instance holds and runs one worker per webhook it holds; a
worker renews its lease as it goes, and every write of delivery state checks the lease in
the same transaction, so an instance that lost it (paused past its lease) writes nothing.

A worker delivers in position order: first a delivery row that is due (the head event
being retried, or parked events replayed), else the log's next events after the
checkpoint. A 2xx is a delivery; anything else, a time-out, a refused address or a reset
connection is a failure, retried after the next of the configured waits; after the last
it is parked and the checkpoint moves past it. The checkpoint moves after each run of
deliveries, so a crash delivers at most that run again (at least once, same webhook-id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import orjson
from attrs import frozen

from chat_core.batches import Shown, stream_event
from chat_core.webhooks.policy import PolicyRefused, Target, UrlPolicy
from chat_core.webhooks.signing import sign
from chat_core.webhooks.unwrap import webhook_key
from events.crypto import MasterKey
from events.envelope import Env
from events.store.base import EventStore, RecordedEvent
from events.webhooks import Delivery, DeliveryStatus, Webhook, WebhookStore

__all__ = ["TIMEOUT", "SendResult", "Sender", "WebhookDispatcher"]

log = logging.getLogger("chat_core.webhooks")

TIMEOUT = 10.0
LEASE_SECONDS = 30.0
POLL_SECONDS = 1.0
BATCH = 100

Show = Callable[[list[RecordedEvent]], Awaitable[Shown]]


@frozen(kw_only=True)
class SendResult:
    """What one POST got: a status, or no answer and why."""

    status: int | None
    error: str | None = None
    # Not sent at all: a private thread's event, which no webhook receives.
    withheld: bool = False

    @property
    def delivered(self) -> bool:
        """Tell whether the receiver took it (a 2xx), or it was withheld: done either way."""
        return self.withheld or (self.status is not None and 200 <= self.status < 300)


WITHHELD = SendResult(status=None, withheld=True)


class Sender(Protocol):
    """POST a body to a vetted target, connecting only to its addresses; follow no redirect.

    No answer within TIMEOUT seconds is a failure like any other.
    """

    async def send(self, target: Target, headers: dict[str, str], body: bytes) -> SendResult: ...


class WebhookDispatcher:
    """Run this instance's share of the webhooks' deliveries."""

    def __init__(
        self,
        *,
        store: EventStore,
        webhooks: WebhookStore,
        master: MasterKey,
        show: Show,
        policy: UrlPolicy,
        retries: Sequence[float],
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._webhooks = webhooks
        self._master = master
        self._show = show
        self._policy = policy
        self._retries = tuple(retries)
        self._lease = lease_seconds
        self._poll = poll_seconds
        self._clock = clock
        self.holder = f"instance-{secrets.token_hex(8)}"
        self._sender: Sender | None = None
        self._main: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._workers: dict[str, _Worker] = {}

    def observe(self, item: RecordedEvent) -> None:
        """Wake the workers of the event's tenant and env (a bus subscriber)."""
        event = item.event
        for worker in self._workers.values():
            if worker.tenant == event.tenant and worker.env == event.env:
                worker.wake()

    def poke(self) -> None:
        """Say the webhooks changed (made, deleted, replayed): look again now."""
        self._changed.set()
        for worker in self._workers.values():
            worker.wake()

    def start(self, sender: Sender) -> None:
        """Begin delivering through sender, from a task of this loop."""
        if self._main is not None:
            raise RuntimeError("the webhook dispatcher was already started")
        self._sender = sender
        self._main = asyncio.get_running_loop().create_task(
            self._run(), name="chat-core webhook dispatcher"
        )

    async def stop(self) -> None:
        """Stop every worker and give up this instance's leases."""
        tasks = [worker.task for worker in self._workers.values()]
        if self._main is not None:
            tasks.append(self._main)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._workers.clear()
        self._main = None
        with contextlib.suppress(Exception):
            await self._webhooks.release(self.holder)

    async def _run(self) -> None:
        while True:
            try:
                await self._share()
            except Exception:
                log.exception("looking for webhooks to deliver failed; trying again")
            self._changed.clear()
            await woken_within(self._changed, self._poll)

    async def _share(self) -> None:
        """Start a worker for each webhook this instance can lease; end those gone."""
        hooks = {hook.id: hook for hook in await self._webhooks.every_webhook()}
        for webhook_id, worker in list(self._workers.items()):
            if webhook_id not in hooks or worker.task.done():
                worker.task.cancel()
                del self._workers[webhook_id]
        for hook in hooks.values():
            if hook.id in self._workers:
                continue
            now = self._clock()
            if await self._webhooks.claim(hook.id, self.holder, now=now, until=now + self._lease):
                worker = _Worker(self, hook, leased_until=now + self._lease)
                self._workers[hook.id] = worker

    async def renew(self, worker: _Worker) -> bool:
        """Renew a worker's lease once half of it is spent; tell whether it still holds it."""
        now = self._clock()
        if now < worker.leased_until - self._lease / 2:
            return True
        until = now + self._lease
        if not await self._webhooks.claim(worker.hook.id, self.holder, now=now, until=until):
            return False
        worker.leased_until = until
        return True

    async def attempt(self, hook: Webhook, key: bytes, item: RecordedEvent) -> SendResult:
        """POST one event to the webhook, signed, after vetting its URL afresh."""
        assert self._sender is not None
        shown = await self._show([item])
        if not shown:
            return WITHHELD
        ((_, data),) = shown
        try:
            target = await self._policy.vet(hook.url)
        except PolicyRefused as exc:
            return SendResult(status=None, error=f"refused: {exc}")
        body = orjson.dumps(stream_event(item, data))
        message_id = str(item.event.event_id)
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(key, message_id, timestamp, body),
        }
        try:
            return await self._sender.send(target, headers, body)
        except Exception as exc:
            return SendResult(status=None, error=f"{type(exc).__name__}: {exc}"[:500])

    def failed(self, delivery: Delivery, result: SendResult) -> Delivery:
        """Return a delivery after one more failed attempt: due again later, or parked."""
        attempts = delivery.attempts + 1
        parked = attempts > len(self._retries)
        return Delivery(
            webhook_id=delivery.webhook_id,
            position=delivery.position,
            event_id=delivery.event_id,
            attempts=attempts,
            last_status=result.status,
            last_error=result.error
            or (None if result.status is None else f"answered {result.status}"),
            next_attempt_at=None if parked else self._clock() + self._retries[attempts - 1],
            status=DeliveryStatus.PARKED if parked else DeliveryStatus.FAILED,
        )

    @property
    def store(self) -> EventStore:
        """Return the log the workers read."""
        return self._store

    @property
    def webhooks(self) -> WebhookStore:
        """Return where the webhooks and their deliveries are kept."""
        return self._webhooks

    @property
    def master(self) -> MasterKey:
        """Return the key the webhooks' secrets are wrapped by."""
        return self._master

    @property
    def clock(self) -> Callable[[], float]:
        """Return the dispatcher's clock (Unix seconds)."""
        return self._clock

    @property
    def poll_seconds(self) -> float:
        """Return how long an idle worker waits before it looks again."""
        return self._poll


class _Worker:
    """Deliver one webhook's events in order while this instance holds its lease."""

    def __init__(self, dispatcher: WebhookDispatcher, hook: Webhook, *, leased_until: float):
        self.hook = hook
        self.tenant: str = hook.tenant
        self.env: Env = hook.env
        self.leased_until = leased_until
        self._dispatcher = dispatcher
        self._woken = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(
            self._run(), name=f"chat-core webhook {hook.id}"
        )

    def wake(self) -> None:
        """Look for something to deliver now."""
        self._woken.set()

    async def _run(self) -> None:
        dispatcher = self._dispatcher
        key = webhook_key(dispatcher.master, self.hook)
        # The checkpoint as stored when the lease was taken; this worker alone moves it.
        position = self.hook.position
        try:
            while await dispatcher.renew(self):
                self._woken.clear()
                waited = await self._step(key, position)
                if waited is None:
                    return
                position = waited
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivering webhook %s failed; its lease lapses", self.hook.id)

    async def _step(self, key: bytes, position: int) -> int | None:
        """Deliver what is due; return the checkpoint, or None when the lease is lost."""
        dispatcher = self._dispatcher
        webhooks = dispatcher.webhooks
        due = await webhooks.due(self.hook.id)
        if due is not None:
            wait = (due.next_attempt_at or 0) - dispatcher.clock()
            if wait > 0:
                await self._sleep(min(wait, dispatcher.poll_seconds))
                return position
            found = [
                item
                async for item in dispatcher.store.read_all(
                    after_position=due.position - 1, before_position=due.position + 1
                )
            ]
            if not found:  # gone from the log (copied elsewhere?): nothing to send
                ok = await webhooks.done(self.hook.id, due.position, holder=dispatcher.holder)
                return max(position, due.position) if ok else None
            return await self._deliver(key, position, found[0], due)
        batch = [
            item
            async for item in dispatcher.store.read_all(
                after_position=position, event_filter=self.hook.event_filter(), limit=BATCH
            )
        ]
        if not batch:
            await self._sleep(dispatcher.poll_seconds)
            return position
        delivered = position
        for item in batch:
            result = await dispatcher.attempt(self.hook, key, item)
            if result.delivered:
                delivered = item.position
                continue
            if delivered > position and not await webhooks.done(
                self.hook.id, delivered, holder=dispatcher.holder
            ):
                return None
            first = Delivery(
                webhook_id=self.hook.id,
                position=item.position,
                event_id=str(item.event.event_id),
                attempts=0,
                last_status=None,
                last_error=None,
                next_attempt_at=None,
                status=DeliveryStatus.PENDING,
            )
            failed = dispatcher.failed(first, result)
            if not await webhooks.record(failed, holder=dispatcher.holder):
                return None
            return item.position if failed.status is DeliveryStatus.PARKED else delivered
        if not await webhooks.done(self.hook.id, delivered, holder=dispatcher.holder):
            return None
        return delivered

    async def _deliver(
        self, key: bytes, position: int, item: RecordedEvent, due: Delivery
    ) -> int | None:
        """Try a due delivery row again: done, failed again, or parked."""
        dispatcher = self._dispatcher
        result = await dispatcher.attempt(self.hook, key, item)
        holder = dispatcher.holder
        if result.delivered:
            ok = await dispatcher.webhooks.done(self.hook.id, due.position, holder=holder)
            return max(position, due.position) if ok else None
        failed = dispatcher.failed(due, result)
        if not await dispatcher.webhooks.record(failed, holder=holder):
            return None
        if failed.status is DeliveryStatus.PARKED:
            return max(position, due.position)
        return position

    async def _sleep(self, seconds: float) -> None:
        await woken_within(self._woken, seconds)


async def woken_within(event: asyncio.Event, seconds: float) -> None:
    """Wait until the event is set or the seconds are up, whichever comes first.

    asyncio.timeout, not asyncio.wait_for: on Python 3.11, wait_for swallows a cancellation
    that arrives as the event is set (it returns the event's result instead), and a worker
    whose stop() was swallowed so runs on, and stop() waits for it forever.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
