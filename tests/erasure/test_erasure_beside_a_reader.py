"""An erasure beside a reader that holds a snapshot: pending until the key bytes are gone."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from events.store.url import sqlite_path
from tests.http.helpers import auth_headers, create_thread, post_message
from transports.cli.main import main

Client = TestClient[Any, Any]
ADMIN = auth_headers("u_ada", "t_globex")  # admin of t_globex
BOB = auth_headers("u_bob", "t_globex")  # member of t_globex
# Long enough for any scrub retry on a loaded machine; a bound on waiting, not a measure.
PATIENCE = 60.0


def _raw_files(path: Path) -> bytes:
    """Return the database file and its WAL as they are on disk, checkpointing nothing."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@contextlib.contextmanager
def _reader_holding_a_snapshot(path: Path) -> Iterator[bytes]:
    """Hold a read transaction on the file (as a long export does); yield u_bob's wrapped key."""
    reader = sqlite3.connect(path, isolation_level=None)
    try:
        (wrapped,) = reader.execute(
            "SELECT wrapped FROM data_keys WHERE subject = 'u_bob'"
        ).fetchone()
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM events").fetchone()
        yield wrapped
        reader.execute("COMMIT")
    finally:
        reader.close()


def _replay_check(url: str) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(["replay", "--check", "--store", url])


async def _status(client: Client, erasure_id: str) -> str:
    response = await client.get(f"/admin/erasures/{erasure_id}", headers=ADMIN)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["erasure_id"] == erasure_id and body["subject"] == "u_bob"
    status: str = body["status"]
    return status


async def _completed(client: Client, erasure_id: str) -> str:
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while (status := await _status(client, erasure_id)) == "pending":
        assert asyncio.get_running_loop().time() < deadline, "the erasure never completed"
        await asyncio.sleep(0.05)
    return status


async def test_an_erasure_beside_a_reader_is_pending_until_its_key_bytes_are_gone(
    sqlite_client: Client, sqlite_url: str
) -> None:
    thread = await create_thread(sqlite_client, ADMIN)
    await post_message(sqlite_client, BOB, thread["id"], "bob's words")
    path = Path(sqlite_path(sqlite_url))
    with _reader_holding_a_snapshot(path) as wrapped:
        response = await sqlite_client.post(
            "/admin/erasures", json={"subject": "u_bob"}, headers=ADMIN
        )
        assert response.status == 202
        erasure = await response.json()
        assert erasure["status"] == "pending"
        assert wrapped in _raw_files(path)  # what "pending" says
        for number in range(3):  # other writers go on meanwhile
            await post_message(sqlite_client, ADMIN, thread["id"], f"during {number}")
        assert await _status(sqlite_client, erasure["erasure_id"]) == "pending"
    assert await _completed(sqlite_client, erasure["erasure_id"]) == "completed"
    assert wrapped not in _raw_files(path)


async def test_an_erasure_without_readers_completes_and_leaves_no_key_bytes(
    sqlite_client: Client, sqlite_url: str
) -> None:
    thread = await create_thread(sqlite_client, ADMIN)
    await post_message(sqlite_client, BOB, thread["id"], "bob's words")
    path = Path(sqlite_path(sqlite_url))
    with sqlite3.connect(path) as conn:
        (wrapped,) = conn.execute(
            "SELECT wrapped FROM data_keys WHERE subject = 'u_bob'"
        ).fetchone()
    response = await sqlite_client.post("/admin/erasures", json={"subject": "u_bob"}, headers=ADMIN)
    assert response.status == 202
    erasure = await response.json()
    # Completed at once, as a rule; pending for a moment when a checkpoint was under way.
    assert erasure["status"] in ("completed", "pending")
    assert await _completed(sqlite_client, erasure["erasure_id"]) == "completed"
    assert wrapped not in _raw_files(path)


async def test_an_erasure_is_shown_to_admins_of_its_tenant_and_env_only(
    sqlite_client: Client,
) -> None:
    response = await sqlite_client.post("/admin/erasures", json={"subject": "u_bob"}, headers=ADMIN)
    path = f"/admin/erasures/{(await response.json())['erasure_id']}"
    shown = await sqlite_client.get(path, headers=ADMIN)
    assert shown.status == 200
    assert (await sqlite_client.get(path, headers=BOB)).status == 403
    other_tenant = auth_headers("u_cyd", "t_acme")  # admin of t_acme
    for headers in (other_tenant, auth_headers("u_ada", "t_globex", "prod")):
        hidden = await sqlite_client.get(path, headers=headers)
        assert hidden.status == 404
        assert hidden.content_type == "application/problem+json"
    unknown = await sqlite_client.get("/admin/erasures/er_nosuchthing", headers=ADMIN)
    assert unknown.status == 404


async def test_a_repeated_erasure_answers_with_the_status_now(
    sqlite_client: Client, sqlite_url: str
) -> None:
    thread = await create_thread(sqlite_client, ADMIN)
    await post_message(sqlite_client, BOB, thread["id"], "bob's words")
    headers = {**ADMIN, "Idempotency-Key": "erase-bob"}
    with _reader_holding_a_snapshot(Path(sqlite_path(sqlite_url))):
        first = await sqlite_client.post(
            "/admin/erasures", json={"subject": "u_bob"}, headers=headers
        )
        erasure = await first.json()
        assert (first.status, erasure["status"]) == (202, "pending")
        again = await sqlite_client.post(
            "/admin/erasures", json={"subject": "u_bob"}, headers=headers
        )
        assert again.headers["Idempotent-Replayed"] == "true"
        assert (again.status, await again.json()) == (202, erasure)
    await _completed(sqlite_client, erasure["erasure_id"])
    last = await sqlite_client.post("/admin/erasures", json={"subject": "u_bob"}, headers=headers)
    assert last.headers["Idempotent-Replayed"] == "true"
    assert (last.status, await last.json()) == (202, {**erasure, "status": "completed"})
    # The record keeps the form replay rebuilds from the event, whatever was answered.
    assert await asyncio.to_thread(_replay_check, sqlite_url) == 0
