"""The composition root: store, bus, handlers, queries and token verifier, wired from settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from attrs import frozen

from chat_core.handlers import ChatHandlers
from chat_core.queries import ChatQueries
from chat_core.readmodel import StreamCache, TemperatureState, ThreadState
from chat_core.settings import Settings, SettingsError, dev_secret
from chat_core.tokens import TokenSettings, TokenVerifier, load_jwks
from events.bus import MessageBus
from events.codec import EventCodec
from events.store import EventStore, open_store

__all__ = ["ChatCore", "bootstrap", "hs256_secret", "token_settings"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@frozen(kw_only=True)
class ChatCore:
    """Everything a transport needs, built once."""

    settings: Settings
    store: EventStore
    codec: EventCodec
    bus: MessageBus
    queries: ChatQueries
    verifier: TokenVerifier

    async def close(self) -> None:
        """Let pending appends finish and release the store."""
        await self.store.close()


def hs256_secret(settings: Settings) -> bytes | None:
    """Return the configured HS256 secret, or in dev mode the one kept in the data folder."""
    if settings.hs256_secret is not None:
        return settings.hs256_secret
    if settings.mode == "dev" and settings.jwks is None:
        return dev_secret(settings.data_dir)
    return None


def token_settings(settings: Settings) -> TokenSettings:
    """Build what the token verifier checks from the server settings."""
    secret = hs256_secret(settings)
    jwks = None if settings.jwks is None else load_jwks(settings.jwks)
    if secret is None and jwks is None:
        raise SettingsError("no HS256 secret and no JWKS: no token could ever be verified")
    try:
        if settings.algorithms is None:
            return TokenSettings(
                issuer=settings.issuer,
                audience=settings.audience,
                hs256_secret=secret,
                jwks=jwks,
                leeway=settings.leeway,
            )
        return TokenSettings(
            issuer=settings.issuer,
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
    clock: Callable[[], datetime] = _utc_now,
    cache_capacity: int = 10_000,
) -> ChatCore:
    """Wire the chat core; open the store the settings name unless one is given."""
    verifier = TokenVerifier(token_settings(settings))
    codec = EventCodec()
    if store is None:
        store = await open_store(settings.store_url, codec=codec)
    bus = MessageBus()
    sole_writer = bool(getattr(store, "sole_writer", False))
    threads = StreamCache(store, ThreadState, capacity=cache_capacity, sole_writer=sole_writer)
    temperatures = StreamCache(
        store, TemperatureState, capacity=cache_capacity, sole_writer=sole_writer
    )
    defaults = settings.temperature_defaults.state()
    ChatHandlers(
        store=store,
        bus=bus,
        threads=threads,
        temperatures=temperatures,
        clock=clock,
    ).register()
    queries = ChatQueries(
        store=store, threads=threads, temperatures=temperatures, temperature_defaults=defaults
    )
    return ChatCore(
        settings=settings, store=store, codec=codec, bus=bus, queries=queries, verifier=verifier
    )
