"""The memory store, SQLite and PostgreSQL give the same hits, in the same order, for one log."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from tests.http.conftest import ClientFactory
from tests.search.helpers import (
    ADMIN,
    AGENT,
    MEMBER,
    OTHER,
    Client,
    new_thread,
    post,
    search,
)

VOCABULARY = [
    "Café",
    "cafe",
    "CAFÉ",
    "crème",
    "résumé",
    "resume",
    "naïve",
    "naive",
    "Straße",
    "strasse",
    "ﬁsh",
    "fish",
    "alpha",
    "alphabet",
    "alpine",
    "beta",
    "better",
    "bet",
    "gamma",
    "γάμμα",
    "Ωμέγα",
    "東京",
    "tokyo",
    "x1",
    "x10",
    "x100",
]
QUERIES = (
    "cafe",
    "CAFÉ crème",
    "resume",
    "strasse",
    "fish",
    "alp*",
    "bet*",
    "γαμμα",
    "ωμεγα",
    "東京",
    "x1*",
    "alpha beta",
    "naive*",
)


async def _write(client: Client, rng: random.Random) -> None:
    """Write the same log on every backend: threads, a private one, posts, redactions."""
    threads = [
        await new_thread(client),
        await new_thread(client, headers=OTHER),
        await new_thread(client, visibility="private"),
    ]
    for n in range(90):
        text = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 9)))
        thread_id = threads[n % 3]
        message = await post(client, thread_id, f"{text}.", headers=OTHER if n % 3 == 1 else None)
        if n % 11 == 0:
            author = OTHER if n % 3 == 1 else MEMBER
            response = await client.delete(
                f"/chat/threads/{thread_id}/messages/{message['id']}", headers=author
            )
            assert response.status == 204


async def _answers(client: Client) -> list[Any]:
    answers: list[Any] = []
    for who in (MEMBER, OTHER, AGENT, ADMIN):
        for q in QUERIES:
            pages: list[Any] = []
            after: str | None = None
            while True:
                params = {"limit": "7"} if after is None else {"limit": "7", "after": after}
                page = await search(client, q, headers=who, **params)
                pages.append([(hit["message"]["content"], hit["snippet"]) for hit in page["data"]])
                if not page["has_more"]:
                    break
                after = page["next"]
            answers.append((q, pages))
    return answers


async def test_every_backend_answers_every_query_alike(
    make_client: ClientFactory, tmp_path: Path, postgres_url: str
) -> None:
    results = []
    for url in ("memory://", f"sqlite:///{tmp_path / 'chat.db'}", postgres_url):
        client = await make_client(store_url=url)
        await _write(client, random.Random(26))
        results.append(await _answers(client))
    memory, sqlite, postgres = results
    assert sum(len(page) for _, pages in memory for page in pages) > 100
    assert sqlite == memory
    assert postgres == memory
