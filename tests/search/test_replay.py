"""chat-core replay rebuilds the search index the appends wrote; replay --check finds a fault."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.branches.helpers import headers_of
from tests.http.helpers import build_core
from tests.search.helpers import ADMIN, AGENT, MEMBER, OTHER, Client, new_thread, post
from tests.tooling.conftest import Cli
from transports.http.app import create_app

ERASED = headers_of("member9")


async def _write(url: str, master: str) -> None:
    """Write, through a real server, what the index follows: posts, a redaction, an erasure."""
    core = await build_core(store_url=url, master_key=base64.b64decode(master))
    client: Client = TestClient(TestServer(create_app(core)))
    await client.start_server()
    try:
        shared = await new_thread(client)
        private = await new_thread(client, headers=OTHER, visibility="private")
        for n in range(12):
            await post(client, shared, f"shared note {n} about comets")
            await post(client, private, f"private café note {n}", headers=OTHER)
        gone = await post(client, shared, "a regrettable comet remark")
        response = await client.delete(
            f"/chat/threads/{shared}/messages/{gone['id']}", headers=MEMBER
        )
        assert response.status == 204
        started = await client.post(
            f"/chat/threads/{shared}/messages",
            json={"role": "assistant", "status": "in_progress", "model": "m"},
            headers=AGENT,
        )
        message: dict[str, Any] = await started.json()
        base = f"/chat/threads/{shared}/messages/{message['id']}"
        await client.post(f"{base}/chunks", json={"index": 0, "content": "a comet "}, headers=AGENT)
        await client.post(f"{base}/chunks", json={"index": 1, "content": "tail"}, headers=AGENT)
        assert (await client.post(f"{base}/complete", json={}, headers=AGENT)).status == 200
        erased = await new_thread(client, headers=ERASED)
        await post(client, erased, "words of the erased comet watcher", headers=ERASED)
        response = await client.post(
            "/admin/erasures", json={"subject": "u_member9"}, headers=ADMIN
        )
        assert response.status == 202
    finally:
        await client.close()


def _index(url: str) -> tuple[list[Any], list[Any]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        docs = conn.execute("SELECT * FROM search_docs ORDER BY key").fetchall()
        postings = conn.execute("SELECT * FROM search_postings ORDER BY 1, 2, 3").fetchall()
    return docs, postings


def _change(url: str, statement: str) -> None:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        assert conn.execute(statement).rowcount == 1


@pytest.fixture
def log(sqlite_url: str, master_key: str) -> str:
    asyncio.run(_write(sqlite_url, master_key))
    return sqlite_url


def test_replay_check_finds_the_index_the_appends_wrote_equal(cli: Cli, log: str) -> None:
    status, out, _ = cli("replay", "--check", "--store", log)
    assert (status, out.splitlines()[-1]) == (0, "live state matches")
    # 12 and 12 notes and the completed generation; not the redacted or the erased one.
    assert "25 messages in the search index" in out
    assert len(_index(log)[0]) == 25


def test_replay_rebuilds_an_identical_index(cli: Cli, log: str) -> None:
    written = _index(log)
    assert cli("replay", "--store", log)[0] == 0
    assert _index(log) == written
    with sqlite3.connect(log.removeprefix("sqlite:///")) as conn:
        conn.execute("DELETE FROM search_postings")
        conn.execute("DELETE FROM search_docs")
    assert cli("replay", "--store", log)[0] == 0
    assert _index(log) == written


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        (
            "DELETE FROM search_postings WHERE (scope, term, key) IN "
            "(SELECT scope, term, key FROM search_postings WHERE term = 'comets' LIMIT 1)",
            "lacks 1 postings",
        ),
        (
            "UPDATE search_docs SET terms = 'shared note' WHERE key = (SELECT min(key) FROM"
            " search_docs WHERE terms LIKE 'shared%')",
            "differs from the log",
        ),
        (
            "DELETE FROM search_docs WHERE key = (SELECT max(key) FROM search_docs)",
            "is missing",
        ),
        (
            "INSERT INTO search_postings SELECT scope, 'intruder', key FROM search_postings"
            " LIMIT 1",
            "search index: holds",
        ),
    ],
)
def test_replay_check_reports_a_tampered_or_missing_index_row(
    cli: Cli, log: str, tamper: str, found: str
) -> None:
    tamper = tamper.replace("rowid IN (SELECT rowid", "(scope, term, key) IN (SELECT *")
    tamper = tamper.replace(
        "SELECT * FROM search_postings WHERE term",
        "SELECT scope, term, key FROM search_postings WHERE term",
    )
    _change(log, tamper)
    status, out, _ = cli("replay", "--check", "--store", log)
    assert status == 1
    assert found in out, out


def test_replay_under_another_master_key_leaves_the_index_and_says_so(
    cli: Cli, log: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _index(log)
    monkeypatch.setenv("CHAT_CORE_MASTER_KEY", base64.b64encode(b"o" * 32).decode())
    status, _out, err = cli("replay", "--store", log)
    assert status == 0
    assert "the search index was not replayed" in err
    assert _index(log) == written
