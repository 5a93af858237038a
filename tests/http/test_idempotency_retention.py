"""Idempotency records are kept for the retention (>= 24 h), then purged; replay knows it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.commands import CreateThread, Idempotency
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.idempotency import IDEMPOTENCY_SCOPE, keep_purging, purge_expired
from chat_core.replay import replay_log
from chat_core.settings import IDEMPOTENCY_TTL, SettingsError, load_settings
from chat_core.views import Replay
from events.envelope import Env
from events.store.base import EventStore
from events.store.memory import MemoryEventStore
from tests.http.helpers import auth_headers, create_thread, settings
from transports.http.app import create_app

Client = TestClient[Any, Any]
ADA = auth_headers("u_ada", "t_acme")
DAY = timedelta(seconds=IDEMPOTENCY_TTL)
MINUTE = timedelta(minutes=1)


def _keyed(key: str) -> dict[str, str]:
    return {**ADA, "Idempotency-Key": key}


async def test_a_key_is_kept_through_the_retention_then_purged_and_free_again(
    aiohttp_client: Any, store_url: str
) -> None:
    now = [datetime.now(UTC)]
    core = await _core(store_url, now)
    client: Client = await aiohttp_client(create_app(core))
    store = core.store
    thread = await create_thread(client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    posted_at = now[0]
    first = await client.post(path, json={"content": "once"}, headers=_keyed("k-1"))
    assert first.status == 201
    original = await first.json()

    now[0] = posted_at + DAY - MINUTE
    assert await purge_expired(store, now=now[0], ttl=DAY) == 0
    kept = await client.post(path, json={"content": "once"}, headers=_keyed("k-1"))
    assert kept.headers["Idempotent-Replayed"] == "true"
    assert (await kept.json())["id"] == original["id"]

    now[0] = posted_at + DAY + MINUTE
    assert await purge_expired(store, now=now[0], ttl=DAY) == 1
    anew = await client.post(path, json={"content": "once"}, headers=_keyed("k-1"))
    assert anew.status == 201
    assert "Idempotent-Replayed" not in anew.headers
    assert (await anew.json())["id"] != original["id"]
    page = await (await client.get(path, headers=ADA)).json()
    assert [message["content"] for message in page["data"]] == ["once", "once"]

    # Checked then, the purged record is past the retention and not checked; the reused
    # key's new record is checked as usual.
    differences: list[str] = []
    result = await replay_log(store, check=True, on_difference=differences.append, now=now[0])
    assert differences == []
    assert (result.expired_records, result.idempotency_records) == (1, 2)


async def test_a_record_missing_within_the_retention_is_still_a_difference(
    client: Client, store: EventStore
) -> None:
    thread = await create_thread(client, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    posted_at = datetime.now(UTC)
    await client.post(path, json={"content": "once"}, headers=_keyed("k-2"))
    # Purged against a clock a day ahead, as a server with a wrong clock would.
    assert await purge_expired(store, now=posted_at + DAY + MINUTE, ttl=DAY) == 1

    differences: list[str] = []
    result = await replay_log(store, check=True, on_difference=differences.append)
    assert result.expired_records == 0
    assert len(differences) == 1
    assert "missing from the store" in differences[0]


async def test_a_server_purges_what_expired_while_it_was_down(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    now = [datetime.now(UTC)]
    first = await aiohttp_client(create_app(await _core(url, now)))
    thread = await create_thread(first, ADA)
    path = f"/chat/threads/{thread['id']}/messages"
    await first.post(path, json={"content": "once"}, headers=_keyed("k-3"))
    await first.close()

    now[0] += DAY + MINUTE
    core = await _core(url, now)
    scope = await _only_scope(core.store)
    assert await core.store.get_idempotency(scope) is not None
    second: Client = await aiohttp_client(create_app(core))
    await _until_gone(core.store, scope)
    again = await second.post(path, json={"content": "once"}, headers=_keyed("k-3"))
    assert again.status == 201
    assert "Idempotent-Replayed" not in again.headers


async def test_the_purge_loop_goes_on_until_cancelled() -> None:
    store = MemoryEventStore()
    now = [datetime.now(UTC)]
    core = await bootstrap(settings=settings(), store=store, clock=lambda: now[0])
    client_thread = await core.bus.send(
        CreateThread(context=_context(), auth=_ada(), title="t", idempotency=_key("k-4"))
    )
    scope = await _only_scope(store)
    purging = asyncio.create_task(keep_purging(store, clock=lambda: now[0], ttl=DAY, every=0.01))
    try:
        await asyncio.sleep(0.05)
        assert await store.get_idempotency(scope) is not None
        now[0] += DAY + MINUTE
        await _until_gone(store, scope)
    finally:
        purging.cancel()
    assert not isinstance(client_thread, Replay)


async def _until_gone(store: EventStore, scope: str, seconds: float = 5.0) -> None:
    """Return once the record under scope is purged, failing the test after seconds."""
    for _ in range(int(seconds / 0.01)):
        if await store.get_idempotency(scope) is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the idempotency record was never purged")


async def _core(url: str, now: list[datetime]) -> ChatCore:
    return await bootstrap(settings=settings(store_url=url), clock=lambda: now[0])


async def _only_scope(store: EventStore) -> str:
    """Return the one idempotency scope the log's events name."""
    scopes = {
        item.event.metadata[IDEMPOTENCY_SCOPE]
        async for item in store.read_all()
        if IDEMPOTENCY_SCOPE in item.event.metadata
    }
    assert len(scopes) == 1
    return scopes.pop()


def _context() -> RequestContext:
    return RequestContext(tenant="t_acme", env=Env.DEV, request_id="req-retention")


def _ada() -> AuthContext:
    return AuthContext(sub="u_ada", memberships={"t_acme": frozenset({Role.MEMBER})})


def _key(key: str) -> Idempotency:
    return Idempotency(key=key, fingerprint="POST /chat/threads {}")


@pytest.mark.parametrize("value", ["3600", "86399", "-1", "a day"])
def test_a_retention_under_24_hours_or_malformed_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="CHAT_CORE_IDEMPOTENCY_TTL"):
        load_settings({"CHAT_CORE_IDEMPOTENCY_TTL": value})


def test_the_retention_defaults_to_24_hours_and_may_be_longer() -> None:
    assert load_settings({}).idempotency_ttl == IDEMPOTENCY_TTL == 86400
    assert load_settings({"CHAT_CORE_IDEMPOTENCY_TTL": "604800"}).idempotency_ttl == 604800
