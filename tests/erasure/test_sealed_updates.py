"""A thread update's title and metadata are its updater's words: sealed, and erased with them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
from aiohttp.test_utils import TestClient

from tests.erasure.test_erasure import ADMIN, BOB, _cli, _erase, _files
from tests.http.helpers import auth_headers, create_thread
from tests.streams.helpers import read_sse

Client = TestClient[Any, Any]

ADA = auth_headers("u_ada", "t_globex")  # the admin who is erased here


async def _patch(client: Client, headers: dict[str, str], thread_id: str, **body: Any) -> Any:
    response = await client.patch(f"/chat/threads/{thread_id}", json=body, headers=headers)
    assert response.status == 200, await response.text()
    return await response.json()


async def _events(client: Client, thread_id: str, count: int) -> list[Any]:
    async with client.get(f"/chat/threads/{thread_id}/events", headers=BOB) as response:
        assert response.status == 200
        return [event.data for event in await read_sse(response, count)]


async def test_an_updates_words_are_sealed_and_an_erasure_of_the_updater_covers_them(
    sqlite_client: Client, sqlite_url: str, tmp_path: Path
) -> None:
    creators = f"bob-title-{uuid.uuid4().hex}"
    admins, note = f"ada-title-{uuid.uuid4().hex}", f"ada-note-{uuid.uuid4().hex}"
    thread = await create_thread(sqlite_client, BOB, title=creators, visibility="private")
    await _patch(sqlite_client, BOB, thread["id"], participants=["u_ada"])
    patched = await _patch(sqlite_client, ADA, thread["id"], title=admins, metadata={"n": note})
    assert (patched["title"], patched["metadata"]) == (admins, {"n": note})
    files = _files(sqlite_url)
    assert admins.encode() not in files and note.encode() not in files
    updated = (await _events(sqlite_client, thread["id"], 3))[2]
    assert updated["type"] == "chat.thread.updated"
    assert (updated["data"]["title"], updated["data"]["metadata"]) == (admins, {"n": note})

    assert (await _erase(sqlite_client, ADMIN, "u_ada")).status == 202

    response = await sqlite_client.get(f"/chat/threads/{thread['id']}", headers=BOB)
    erased = await response.json()
    assert (erased["title"], erased["metadata"], erased["participants"]) == (None, {}, ["u_ada"])
    created, _, updated = [event["data"] for event in await _events(sqlite_client, thread["id"], 3)]
    assert created["title"] == creators
    assert (updated["title"], updated["metadata"], updated["erased"]) == (None, None, True)
    # The creator's title again, set after the erasure, reads as it was set.
    assert (await _patch(sqlite_client, BOB, thread["id"], title=creators))["title"] == creators

    assert (await _cli("verify", "--store", sqlite_url))[0] == 0
    assert (await _cli("replay", "--check", "--store", sqlite_url))[0] == 0
    target = tmp_path / "out.jsonl"
    assert (await _cli("export", "--store", sqlite_url, "-o", str(target)))[0] == 0
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    shown = [line["payload"] for line in lines if line["type"] == "chat.thread.updated"]
    assert [(update["title"], update["metadata"], update["erased"]) for update in shown] == [
        (None, None, False),
        (None, None, True),
        (creators, None, False),
    ]
    assert shown[0]["participants"] == ["u_ada"]
    assert all("sealed" not in update for update in shown)
    assert admins.encode() not in target.read_bytes()
