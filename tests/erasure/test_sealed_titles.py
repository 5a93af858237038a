"""A thread's title and metadata are its creator's words: sealed, and erased with them."""

from __future__ import annotations

import base64
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from chat_core.payloads import ThreadCreated
from chat_core.state import new_thread_id
from events.codec import EventCodec
from events.envelope import DatasetEvent, Env
from events.store.url import open_store, sqlite_path
from tests.erasure.test_erasure import ADMIN, BOB, _cli, _erase, _files
from tests.http.helpers import build_core, create_thread, post_message
from tests.streams.helpers import read_sse
from transports.http.app import create_app

Client = TestClient[Any, Any]


async def _thread(client: Client, thread_id: str) -> dict[str, Any]:
    response = await client.get(f"/chat/threads/{thread_id}", headers=ADMIN)
    assert response.status == 200, await response.text()
    thread: dict[str, Any] = await response.json()
    return thread


async def _listed(client: Client) -> dict[str, dict[str, Any]]:
    response = await client.get("/chat/threads", headers=ADMIN)
    assert response.status == 200
    return {thread["id"]: thread for thread in (await response.json())["data"]}


async def _created_event(client: Client, thread_id: str) -> dict[str, Any]:
    async with client.get(f"/chat/threads/{thread_id}/events", headers=ADMIN) as response:
        assert response.status == 200
        (created,) = await read_sse(response, 1)
    assert created.type == "chat.thread.created"
    return created.data


async def test_a_title_is_sealed_and_an_erasure_of_its_creator_covers_it(
    sqlite_client: Client, sqlite_url: str, tmp_path: Path
) -> None:
    title, note = f"bob-title-{uuid.uuid4().hex}", f"bob-note-{uuid.uuid4().hex}"
    kept = f"ada-title-{uuid.uuid4().hex}"
    body = {"title": title, "metadata": {"topic": note}}
    created = await sqlite_client.post(
        "/chat/threads", json=body, headers={**BOB, "Idempotency-Key": "bob-thread"}
    )
    assert created.status == 201
    bobs = await created.json()
    assert (bobs["title"], bobs["metadata"]) == (title, {"topic": note})
    adas = await create_thread(sqlite_client, ADMIN, title=kept)
    await post_message(sqlite_client, BOB, bobs["id"], "a message to keep the thread busy")
    files = _files(sqlite_url)
    assert title.encode() not in files and note.encode() not in files  # sealed from the start
    assert (await _thread(sqlite_client, bobs["id"]))["title"] == title
    assert (await _created_event(sqlite_client, bobs["id"]))["data"]["title"] == title

    assert (await _erase(sqlite_client, ADMIN, "u_bob")).status == 202

    erased = await _thread(sqlite_client, bobs["id"])
    assert (erased["title"], erased["metadata"]) == (None, {})
    assert erased["created_by"] == "u_bob" and erased["message_count"] == 1
    listed = await _listed(sqlite_client)
    assert (listed[bobs["id"]]["title"], listed[bobs["id"]]["metadata"]) == (None, {})
    assert listed[adas["id"]]["title"] == kept
    stream = (await _created_event(sqlite_client, bobs["id"]))["data"]
    assert stream == {
        "thread_id": bobs["id"],
        "title": None,
        "metadata": {},
        "visibility": "tenant",
        "forked_from": None,
    }
    replayed = await sqlite_client.post(
        "/chat/threads", json=body, headers={**BOB, "Idempotency-Key": "bob-thread"}
    )
    assert replayed.status == 201 and replayed.headers.get("Idempotent-Replayed") == "true"
    again = await replayed.json()
    assert (again["id"], again["title"], again["metadata"]) == (bobs["id"], None, {})
    assert "sealed" not in again

    files = _files(sqlite_url)
    assert title.encode() not in files and note.encode() not in files
    assert (await _cli("verify", "--store", sqlite_url))[0] == 0
    assert (await _cli("replay", "--check", "--store", sqlite_url))[0] == 0
    target = tmp_path / "out.jsonl"
    assert (await _cli("export", "--store", sqlite_url, "-o", str(target)))[0] == 0
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    shown = [line["payload"] for line in lines if line["type"] == "chat.thread.created"]
    assert shown == [
        {
            "thread_id": bobs["id"],
            "title": None,
            "metadata": {},
            "visibility": "tenant",
            "forked_from": None,
        },
        {
            "thread_id": adas["id"],
            "title": kept,
            "metadata": {},
            "visibility": "tenant",
            "forked_from": None,
        },
    ]


async def test_a_thread_stored_in_clear_before_sealing_reads_and_is_hidden_by_an_erasure(
    aiohttp_client: Any, tmp_path: Path, master_key: str
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    codec = EventCodec()
    store = await open_store(url, codec=codec)
    thread_id = new_thread_id()
    event = DatasetEvent(
        event_id=uuid.uuid4(),
        stream=f"chat/t_globex/dev/{thread_id}",
        version=1,
        tenant="t_globex",
        env=Env.DEV,
        request_id="r-old",
        trace_id="r-old",
        actor="u_bob",
        occurred_at=datetime(2026, 11, 1, tzinfo=UTC),
        payload=ThreadCreated(thread_id=thread_id, title="old words", metadata={"k": "v"}),
    )
    await store.append(event.stream, [event], expected_version=0)
    await store.close()
    # As a log written before titles were sealed holds it: schema 1, the title in clear.
    v1 = orjson.dumps({"thread_id": thread_id, "title": "old words", "metadata": {"k": "v"}})
    with sqlite3.connect(sqlite_path(url)) as conn:
        conn.execute("UPDATE events SET schema_version = 1, payload = ?", (v1,))

    core = await build_core(store_url=url, master_key=base64.b64decode(master_key))
    client: Client = await aiohttp_client(create_app(core))
    thread = await _thread(client, thread_id)
    assert (thread["title"], thread["metadata"]) == ("old words", {"k": "v"})
    assert (await _erase(client, ADMIN, "u_bob")).status == 202
    thread = await _thread(client, thread_id)
    assert (thread["title"], thread["metadata"]) == (None, {})
    assert (await _created_event(client, thread_id))["data"]["title"] is None
