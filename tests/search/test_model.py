"""Random tenants, users, private and shared threads, posts, redactions and erasures: every
search answers exactly the messages a plain model says the caller may read."""

from __future__ import annotations

import random
from typing import Any

import pytest
from attrs import define, field

from tests.branches.helpers import headers_of
from tests.search.helpers import Client

TENANTS = ("t_acme", "t_globex")
USERS = ("member1", "member2", "member3", "agent1")
WORDS = ("apple", "banana", "cherry", "date", "elder")


@define
class _Thread:
    tenant: str
    creator: str
    private: bool
    participants: set[str] = field(factory=set)


@define
class _Model:
    threads: dict[str, _Thread] = field(factory=dict)
    # message id -> (thread id, author, words); dropped when redacted or erased.
    messages: dict[str, tuple[str, str, set[str]]] = field(factory=dict)

    def visible(self, tenant: str, user: str, word: str) -> set[str]:
        found = set()
        for message_id, (thread_id, _author, words) in self.messages.items():
            thread = self.threads[thread_id]
            if thread.tenant != tenant or word not in words:
                continue
            if thread.private and not (
                user == thread.creator or user in thread.participants or user.startswith("agent")
            ):
                continue
            found.add(message_id)
        return found


def _who(user: str, tenant: str) -> dict[str, str]:
    return headers_of(user, tenant=tenant)


async def _step(client: Client, model: _Model, rng: random.Random) -> None:
    tenant, user = rng.choice(TENANTS), rng.choice(USERS[:3])
    choice = rng.random()
    if choice < 0.15 or not model.threads:
        private = rng.random() < 0.5
        body: dict[str, Any] = {"visibility": "private" if private else "tenant"}
        response = await client.post("/chat/threads", json=body, headers=_who(user, tenant))
        assert response.status == 201
        model.threads[(await response.json())["id"]] = _Thread(tenant, user, private)
        return
    thread_id, thread = rng.choice(list(model.threads.items()))
    if choice < 0.7:
        poster = thread.creator if thread.private else user
        words = set(rng.sample(WORDS, rng.randint(1, 3)))
        response = await client.post(
            f"/chat/threads/{thread_id}/messages",
            json={"content": " ".join(sorted(words))},
            headers=_who(poster, thread.tenant),
        )
        assert response.status == 201
        model.messages[(await response.json())["id"]] = (thread_id, poster, words)
    elif choice < 0.8 and thread.private:
        invited = rng.choice(USERS[:3])
        thread.participants.add(invited)
        response = await client.patch(
            f"/chat/threads/{thread_id}",
            json={"participants": sorted(f"u_{name}" for name in thread.participants)},
            headers=_who(thread.creator, thread.tenant),
        )
        assert response.status == 200
    elif choice < 0.95:
        mine = [m for m, (t, author, _) in model.messages.items() if t == thread_id]
        if mine:
            message_id = rng.choice(mine)
            author = model.messages[message_id][1]
            response = await client.delete(
                f"/chat/threads/{thread_id}/messages/{message_id}",
                headers=_who(author, thread.tenant),
            )
            assert response.status == 204
            del model.messages[message_id]
    else:
        subject = rng.choice(USERS[:3])
        admin = headers_of("admin", tenant=tenant)
        response = await client.post(
            "/admin/erasures", json={"subject": f"u_{subject}"}, headers=admin
        )
        assert response.status == 202
        for message_id, (thread_id, author, _) in list(model.messages.items()):
            if author == subject and model.threads[thread_id].tenant == tenant:
                del model.messages[message_id]


async def _found(client: Client, tenant: str, user: str, word: str) -> set[str]:
    ids: set[str] = set()
    after = None
    while True:
        params = {"q": word, "limit": "5", **({} if after is None else {"after": after})}
        response = await client.get("/chat/search", params=params, headers=_who(user, tenant))
        assert response.status == 200
        page = await response.json()
        ids.update(hit["message"]["id"] for hit in page["data"])
        if not page["has_more"]:
            return ids
        after = page["next"]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_search_answers_what_the_model_may_read(client: Client, seed: int) -> None:
    rng = random.Random(seed)
    model = _Model()
    for step in range(60):
        await _step(client, model, rng)
        if step % 20 == 19:
            for tenant in TENANTS:
                for user in USERS:
                    for word in WORDS:
                        expected = model.visible(tenant, user, word)
                        assert await _found(client, tenant, user, word) == expected, (
                            tenant,
                            user,
                            word,
                        )
