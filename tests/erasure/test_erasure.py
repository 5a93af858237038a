"""Erasure and redaction end to end: words gone from the files, reads, streams and exports."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient

from events.store.url import sqlite_path
from tests.http.helpers import auth_headers, create_thread, post_message
from tests.streams.helpers import read_sse
from transports.cli.main import main

Client = TestClient[Any, Any]
ADMIN = auth_headers("u_ada", "t_globex")  # admin of t_globex
BOB = auth_headers("u_bob", "t_globex")  # member of t_globex


def _run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out):
        status = main(argv)
    out.flush()
    out.seek(0)
    return status, out.read()


async def _cli(*argv: str) -> tuple[int, str]:
    """Run chat-core in a thread: it runs its own event loop."""
    return await asyncio.to_thread(_run_cli, list(argv))


async def _erase(client: Client, headers: dict[str, str], subject: str) -> Any:
    return await client.post("/admin/erasures", json={"subject": subject}, headers=headers)


async def _messages(client: Client, headers: dict[str, str], thread_id: str) -> list[Any]:
    response = await client.get(f"/chat/threads/{thread_id}/messages", headers=headers)
    assert response.status == 200
    data: list[Any] = (await response.json())["data"]
    return data


def _files(url: str) -> bytes:
    path = Path(sqlite_path(url))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_erased_words_are_nowhere_in_the_sqlite_files(
    sqlite_client: Client, sqlite_url: str
) -> None:
    bob_words, ada_words = f"bob-{uuid.uuid4().hex}", f"ada-{uuid.uuid4().hex}"
    thread = await create_thread(sqlite_client, ADMIN)
    posted = await sqlite_client.post(
        f"/chat/threads/{thread['id']}/messages",
        json={"content": bob_words, "metadata": {"note": bob_words + "-meta"}},
        headers={**BOB, "Idempotency-Key": "bob-1"},
    )
    assert posted.status == 201
    await post_message(sqlite_client, ADMIN, thread["id"], ada_words)
    assert bob_words.encode() not in _files(sqlite_url)  # sealed from the start

    response = await _erase(sqlite_client, ADMIN, "u_bob")
    assert response.status == 202
    body = await response.json()
    assert body["subject"] == "u_bob" and body["erasure_id"] and body["status"]

    bob, ada = await _messages(sqlite_client, ADMIN, thread["id"])
    assert (bob["erased"], bob["content"], bob["metadata"]) == (True, None, {})
    assert ada["content"] == ada_words and not ada["erased"]
    replayed = await sqlite_client.post(
        f"/chat/threads/{thread['id']}/messages",
        json={"content": bob_words, "metadata": {"note": bob_words + "-meta"}},
        headers={**BOB, "Idempotency-Key": "bob-1"},
    )
    assert (await replayed.json())["erased"] is True
    files = _files(sqlite_url)
    assert bob_words.encode() not in files and ada_words.encode() not in files


async def test_verify_replay_and_export_after_an_erasure(
    sqlite_client: Client, sqlite_url: str, tmp_path: Path
) -> None:
    thread = await create_thread(sqlite_client, ADMIN)
    await post_message(sqlite_client, BOB, thread["id"], "bob says")
    await post_message(sqlite_client, ADMIN, thread["id"], "ada says")
    assert (await _erase(sqlite_client, ADMIN, "u_bob")).status == 202
    assert (await _cli("verify", "--store", sqlite_url))[0] == 0
    assert (await _cli("replay", "--check", "--store", sqlite_url))[0] == 0
    target = tmp_path / "out.jsonl"
    assert (await _cli("export", "--store", sqlite_url, "-o", str(target)))[0] == 0
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    posted = [line["payload"] for line in lines if line["type"] == "chat.message.posted"]
    assert [(p["content"], p["erased"]) for p in posted] == [(None, True), ("ada says", False)]
    assert all("sealed" not in p for p in posted)
    assert [line["type"] for line in lines][-1] == "chat.erasure.recorded"


async def test_a_member_may_not_erase(sqlite_client: Client) -> None:
    assert (await _erase(sqlite_client, BOB, "u_ada")).status == 403
    assert (await _erase(sqlite_client, BOB, "u_bob")).status == 403


async def test_erasure_is_per_tenant(sqlite_client: Client) -> None:
    globex = await create_thread(sqlite_client, ADMIN)
    await post_message(sqlite_client, BOB, globex["id"], "bob in globex")
    acme_bob = auth_headers("u_bob", "t_acme")
    acme = await create_thread(sqlite_client, acme_bob)
    await post_message(sqlite_client, acme_bob, acme["id"], "bob in acme")
    # u_cyd is admin of t_acme only: erasing bob there leaves globex alone.
    assert (await _erase(sqlite_client, auth_headers("u_cyd", "t_acme"), "u_bob")).status == 202
    [in_acme] = await _messages(sqlite_client, acme_bob, acme["id"])
    [in_globex] = await _messages(sqlite_client, ADMIN, globex["id"])
    assert in_acme["erased"] and in_acme["content"] is None
    assert in_globex["content"] == "bob in globex"
    # A new message after the erasure gets a new key and reads back.
    await post_message(sqlite_client, acme_bob, acme["id"], "bob again")
    messages = await _messages(sqlite_client, acme_bob, acme["id"])
    assert [m["content"] for m in messages] == [None, "bob again"]


async def test_redaction_across_tenants_is_404(sqlite_client: Client) -> None:
    thread = await create_thread(sqlite_client, ADMIN)
    message = await post_message(sqlite_client, ADMIN, thread["id"], "mine")
    path = f"/chat/threads/{thread['id']}/messages/{message['id']}"
    assert (await sqlite_client.delete(path, headers=auth_headers("u_cyd", "t_acme"))).status == 404
    assert (await sqlite_client.delete(path, headers=BOB)).status == 403


@pytest.mark.parametrize("withdraw", ["redact", "erase"])
async def test_streams_replay_withdrawn_messages_without_words(
    sqlite_client: Client, withdraw: str
) -> None:
    thread = await create_thread(sqlite_client, ADMIN)
    message = await post_message(sqlite_client, BOB, thread["id"], "words to withdraw")
    # Read the stream once while the words are there, so the renderer caches them.
    async with sqlite_client.get(f"/chat/threads/{thread['id']}/events", headers=ADMIN) as first:
        before = await read_sse(first, 2)
    assert before[1].data["data"]["content"] == "words to withdraw"
    if withdraw == "redact":
        path = f"/chat/threads/{thread['id']}/messages/{message['id']}"
        assert (await sqlite_client.delete(path, headers=BOB)).status == 204
    else:
        assert (await _erase(sqlite_client, ADMIN, "u_bob")).status == 202
    async with sqlite_client.get(
        f"/chat/threads/{thread['id']}/events", headers={**ADMIN, "Last-Event-ID": "0"}
    ) as resumed:
        events = await read_sse(resumed, 2)
    data = events[1].data["data"]
    assert data["content"] is None and data["metadata"] == {}
    assert data["redacted" if withdraw == "redact" else "erased"] is True
    assert "sealed" not in data


async def test_rotating_the_master_key_keeps_every_word(
    sqlite_client: Client, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = await create_thread(sqlite_client, ADMIN)
    await post_message(sqlite_client, BOB, thread["id"], "kept across rotation")
    new = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("CHAT_CORE_NEW_MASTER_KEY", new)
    status, out = await _cli("rotate-master-key", "--store", sqlite_url)
    assert status == 0 and "rewrapped 2 " in out  # the thread creator's key and the poster's
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", new)
    target = tmp_path / "rotated.jsonl"
    assert (await _cli("export", "--store", sqlite_url, "-o", str(target)))[0] == 0
    assert b"kept across rotation" in target.read_bytes()
