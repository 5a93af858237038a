"""The composition root: store, bus, handlers, queries and token verifier, wired from settings.

It also starts the process's one follower of the log (`LogFollower`): one store
subscription, from the head read here, that publishes every recorded event on the bus,
whoever appended it. Every in-process consumer of events subscribes to the bus in
`_follow_log` and nowhere else: erasure observation and the stream hub today; durable
consumers' long polls, the webhook dispatcher and the generation time-out sweeper are
added there. `ChatCore.close` stops the follower.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from attrs import frozen

from chat_core.batches import PrivateThreads, show_events
from chat_core.caches import StreamCache, ThreadCache
from chat_core.consumers import Consumers
from chat_core.erasure import ErasureHandler
from chat_core.fold import message_subjects
from chat_core.generation_timeout import GenerationSweeper
from chat_core.handlers import ChatHandlers
from chat_core.hub import StreamHub
from chat_core.payloads import ErasureRecorded
from chat_core.presenter import EventPresenter
from chat_core.queries import ChatQueries
from chat_core.settings import Settings, SettingsError, dev_master_key, dev_secret
from chat_core.state import TemperatureState, ThreadState
from chat_core.temperature import TemperatureHandler
from chat_core.tokens import TokenSettings, TokenVerifier
from chat_core.tokens.rotating import configured_jwks
from chat_core.webhooks import UrlPolicy, WebhookDispatcher, Webhooks
from chat_core.writer import utc_now
from events.bus import LogFollower, MessageBus
from events.codec import EventCodec
from events.consumers import MemoryCheckpointStore, open_checkpoint_store
from events.crypto import MasterKey, new_data_key
from events.keys import KeyRing, KeyStore, MemoryKeyStore, open_key_store
from events.store import EventStore, RecordedEvent, open_store
from events.store.memory import MemoryEventStore
from events.store.url import redact_url
from events.webhooks import open_webhook_store

__all__ = [
    "ChatCore",
    "bootstrap",
    "hs256_secret",
    "master_key",
    "master_key_mismatch",
    "token_settings",
]


@frozen(kw_only=True)
class ChatCore:
    """Everything a transport needs, built once."""

    settings: Settings
    store: EventStore
    codec: EventCodec
    bus: MessageBus
    queries: ChatQueries
    verifier: TokenVerifier
    keys: KeyRing
    presenter: EventPresenter
    erasures: ErasureHandler
    # The folded threads reads and posts share, within CHAT_CORE_CACHE_BYTES.
    threads: ThreadCache
    # Live events of each stream for the stream transports (SSE, WebSocket).
    hub: StreamHub
    follower: LogFollower
    # Durable consumers: checkpoints in the store, long polls woken by the follower.
    consumers: Consumers
    # Webhook registrations and this instance's share of their deliveries.
    webhooks: Webhooks
    # Fails the generations that went silent past CHAT_CORE_GENERATION_TIMEOUT.
    sweeper: GenerationSweeper
    clock: Callable[[], datetime] = utc_now

    async def close(self) -> None:
        """Stop following the log, end every live stream, then close the stores."""
        await self.follower.stop()
        await self.sweeper.stop()
        await self.webhooks.dispatcher.stop()
        self.hub.stop()
        await self.erasures.close()
        await self.consumers.checkpoints.close()
        await self.webhooks.webhooks.close()
        await self.store.close()
        await self.keys.store.close()


def hs256_secret(settings: Settings) -> bytes | None:
    """Return the configured HS256 secret, or in dev mode the one kept in the data folder."""
    if settings.hs256_secret is not None:
        return settings.hs256_secret
    if settings.mode == "dev" and settings.jwks is None and settings.oidc_issuer is None:
        return dev_secret(settings.data_dir)
    return None


def master_key(settings: Settings, *, ephemeral: bool = False) -> MasterKey:
    """Return the configured master key; in dev mode the one kept in the data folder.

    An ephemeral store (memory://) gets a key that lives and dies with the process.
    """
    if settings.master_key is not None:
        return MasterKey(settings.master_key)
    if ephemeral:
        return MasterKey(new_data_key())
    if settings.mode == "dev":
        return MasterKey(dev_master_key(settings.data_dir))
    raise SettingsError("no CHAT_CORE_MASTER_KEY: no data key could be wrapped or opened")


def master_key_mismatch(store_url: str, foreign: str, configured: str) -> str:
    """Say that another master key wraps the store's data keys, and how to mend it."""
    where = redact_url(store_url)
    return (
        f"the data keys in {where} are wrapped by master key {foreign}, not the configured "
        f"{configured}: start with the CHAT_CORE_MASTER_KEY that wrapped them, or rewrap them "
        "once with CHAT_CORE_MASTER_KEY=<that key> CHAT_CORE_NEW_MASTER_KEY=<this key> "
        f"chat-core rotate-master-key --store {where}"
    )


def token_settings(settings: Settings) -> TokenSettings:
    """Build what the token verifier checks from the server settings (fetching a JWKS URL)."""
    secret = hs256_secret(settings)
    issuer, jwks = configured_jwks(
        jwks=settings.jwks, oidc_issuer=settings.oidc_issuer, issuer=settings.issuer
    )
    if secret is None and jwks is None:
        raise SettingsError("no HS256 secret and no JWKS: no token could ever be verified")
    try:
        if settings.algorithms is None:
            return TokenSettings(
                issuer=issuer,
                audience=settings.audience,
                hs256_secret=secret,
                jwks=jwks,
                leeway=settings.leeway,
            )
        return TokenSettings(
            issuer=issuer,
            audience=settings.audience,
            hs256_secret=secret,
            jwks=jwks,
            algorithms=settings.algorithms,
            leeway=settings.leeway,
        )
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


async def bootstrap(
    *,
    settings: Settings,
    store: EventStore | None = None,
    clock: Callable[[], datetime] = utc_now,
    cache_capacity: int | None = None,
    key_store: KeyStore | None = None,
    search_index: bool = True,
) -> ChatCore:
    """Wire the chat core; open the store (and its key store) the settings name unless given."""
    if cache_capacity is None:
        cache_capacity = settings.cache_messages
    # In a worker thread: a JWKS URL or OpenID configuration is fetched there at start.
    verifier = TokenVerifier(await asyncio.to_thread(token_settings, settings))
    codec = EventCodec()
    ephemeral = isinstance(store, MemoryEventStore) or settings.store_url.startswith("memory:")
    master = master_key(settings, ephemeral=ephemeral)
    if store is None:
        store = await open_store(settings.store_url, codec=codec)
    if key_store is None:
        key_store = MemoryKeyStore() if ephemeral else await open_key_store(settings.store_url)
    foreign = await key_store.foreign_master(master.key_id)
    if foreign is not None:
        await key_store.close()
        await store.close()
        raise SettingsError(master_key_mismatch(settings.store_url, foreign, master.key_id))
    keys = KeyRing(key_store, master, clock=clock)
    bus = MessageBus()
    sole_writer = bool(getattr(store, "sole_writer", False))

    async def fetch_keys(batch: list[RecordedEvent]) -> None:
        await keys.prefetch(message_subjects(batch))

    threads = ThreadCache(
        store,
        lambda: ThreadState(keys=keys),
        capacity=cache_capacity,
        max_bytes=settings.cache_bytes,
        sole_writer=sole_writer,
        prepare=fetch_keys,
    )
    temperatures = StreamCache(
        store, TemperatureState, capacity=cache_capacity, sole_writer=sole_writer
    )
    defaults = settings.temperature_defaults.state()
    chat = ChatHandlers(
        store=store,
        bus=bus,
        threads=threads,
        clock=clock,
        sole_writer=sole_writer,
        keys=keys,
        temperatures=temperatures,
        temperature_defaults=defaults,
        search_index=search_index,
    )
    chat.register()
    sweeper = GenerationSweeper(
        generations=chat.generations,
        timeout=settings.generation_timeout,
        clock=clock,
        codec=codec,
    )
    TemperatureHandler(store=store, bus=bus, temperatures=temperatures, clock=clock).register()
    erasures = ErasureHandler(store=store, bus=bus, keys=keys, threads=threads, clock=clock)
    erasures.register()
    queries = ChatQueries(
        store=store, threads=threads, temperatures=temperatures, temperature_defaults=defaults
    )
    hub = StreamHub()
    checkpoints = (
        MemoryCheckpointStore(store)
        if ephemeral
        else await open_checkpoint_store(settings.store_url, events=store)
    )
    # Private threads' events reach no consumer or webhook: which threads are, learnt once.
    private = PrivateThreads(store)
    consumers = Consumers(
        store=store, checkpoints=checkpoints, keys=keys, codec=codec, clock=clock, private=private
    )
    webhooks = await _webhooks(settings, store, keys, master, codec, clock, private)
    follower, head = await _follow_log(
        store,
        bus,
        erasures=erasures,
        hub=hub,
        consumers=consumers,
        webhooks=webhooks,
        sweeper=sweeper,
    )
    sweeper.start()
    sweeper.recover(store, head)
    return ChatCore(
        settings=settings,
        store=store,
        codec=codec,
        bus=bus,
        queries=queries,
        verifier=verifier,
        keys=keys,
        presenter=EventPresenter(threads=threads, converter=codec.converter),
        erasures=erasures,
        threads=threads,
        hub=hub,
        follower=follower,
        consumers=consumers,
        webhooks=webhooks,
        sweeper=sweeper,
        clock=clock,
    )


async def _webhooks(
    settings: Settings,
    store: EventStore,
    keys: KeyRing,
    master: MasterKey,
    codec: EventCodec,
    clock: Callable[[], datetime],
    private: PrivateThreads,
) -> Webhooks:
    """Open the webhook store beside the log and build the dispatcher (started by a transport)."""
    policy = UrlPolicy(settings.webhook_allow)
    url = "memory://" if isinstance(store, MemoryEventStore) else settings.store_url
    webhook_store = await open_webhook_store(url)

    async def show(events: list[RecordedEvent]) -> list[tuple[RecordedEvent, dict[str, Any]]]:
        return await show_events(store, keys, codec, events, private)

    dispatcher = WebhookDispatcher(
        store=store,
        webhooks=webhook_store,
        master=master,
        show=show,
        policy=policy,
        retries=settings.webhook_retries,
    )
    return Webhooks(
        store=store,
        webhooks=webhook_store,
        master=master,
        policy=policy,
        dispatcher=dispatcher,
        clock=clock,
    )


async def _follow_log(
    store: EventStore,
    bus: MessageBus,
    *,
    erasures: ErasureHandler,
    hub: StreamHub,
    consumers: Consumers,
    webhooks: Webhooks,
    sweeper: GenerationSweeper,
) -> tuple[LogFollower, int]:
    """Subscribe this process's consumers of events, then follow the log from its head.

    The follower is running when this returns, so a server built on the core sees every
    event appended after this point; a consumer subscribed later would miss some, which
    is why every one of them is subscribed here.
    """
    bus.subscribe(erasures.observe, event_type=ErasureRecorded.event_type)
    bus.subscribe(hub.dispatch)
    bus.subscribe(consumers.observe)
    bus.subscribe(webhooks.dispatcher.observe)
    bus.subscribe(sweeper.observe)
    follower = LogFollower(store, bus)
    head = await store.head_position()
    follower.start(after_position=head)
    return follower, head
