"""GET /chat/search over a real server on each backend: what is found, in what order, by whom."""

from __future__ import annotations

import pytest

from tests.branches.helpers import headers_of
from tests.search.helpers import (
    ADMIN,
    AGENT,
    MEMBER,
    OTHER,
    Client,
    found,
    new_thread,
    post,
    search,
)


async def test_every_word_of_the_query_must_be_in_the_message(client: Client) -> None:
    thread_id = await new_thread(client)
    await post(client, thread_id, "the quick brown fox")
    await post(client, thread_id, "a quick answer")
    await post(client, thread_id, "brown bread")
    assert sorted(await found(client, "quick")) == ["a quick answer", "the quick brown fox"]
    assert await found(client, "quick brown") == ["the quick brown fox"]
    assert await found(client, "quick bread") == []


async def test_matching_ignores_case_and_accents_and_takes_whole_words(client: Client) -> None:
    thread_id = await new_thread(client)
    await post(client, thread_id, "Un Café crème, s'il vous plaît")
    await post(client, thread_id, "cafeteria food")
    assert await found(client, "CAFE") == ["Un Café crème, s'il vous plaît"]
    assert await found(client, "creme plait") == ["Un Café crème, s'il vous plaît"]
    assert await found(client, "café*") == [
        "cafeteria food",
        "Un Café crème, s'il vous plaît",
    ]


async def test_fewer_words_rank_first_then_newer(client: Client) -> None:
    thread_id = await new_thread(client)
    await post(client, thread_id, "orbit of a small moon around a planet")
    await post(client, thread_id, "orbit again")
    await post(client, thread_id, "orbit decay")
    assert await found(client, "orbit") == [
        "orbit decay",
        "orbit again",
        "orbit of a small moon around a planet",
    ]


async def test_pages_follow_their_cursor_to_every_hit_once(client: Client) -> None:
    thread_id = await new_thread(client)
    texts = [f"lantern number {n}" for n in range(7)]
    for text in texts:
        await post(client, thread_id, text)
    first = await search(client, "lantern", limit="3")
    assert len(first["data"]) == 3 and first["has_more"] is True
    assert sorted(await found(client, "lantern", limit="3")) == sorted(texts)


async def test_a_hit_is_the_message_and_a_snippet_around_the_word(client: Client) -> None:
    thread_id = await new_thread(client)
    words = " ".join(f"filler{n}" for n in range(40))
    message = await post(client, thread_id, f"{words} the needle is here {words}")
    page = await search(client, "needle")
    [hit] = page["data"]
    assert hit["message"]["id"] == message["id"]
    assert hit["message"]["thread_id"] == thread_id
    assert hit["message"]["seq"] == 1
    assert "needle" in hit["snippet"] and len(hit["snippet"]) <= 162
    assert hit["snippet"].startswith("…") and hit["snippet"].endswith("…")


async def test_thread_id_limits_the_search_to_that_thread(client: Client) -> None:
    first, second = await new_thread(client), await new_thread(client)
    await post(client, first, "kettle one")
    await post(client, second, "kettle two")
    assert await found(client, "kettle", thread_id=second) == ["kettle two"]


@pytest.mark.parametrize(
    ("q", "detail"),
    [
        ("", "q is empty"),
        ("   ", "q is empty"),
        ("?!… --- ***", "only punctuation"),
        ("x" * 201, "longer than 200 characters"),
    ],
)
async def test_a_query_with_nothing_to_search_is_400_with_what_is_wrong(
    client: Client, q: str, detail: str
) -> None:
    response = await client.get("/chat/search", params={"q": q}, headers=MEMBER)
    assert response.status == 400
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert detail in body["detail"]
    assert body["errors"][0]["field"] == "q"


async def test_a_missing_q_an_unknown_parameter_or_a_bad_cursor_is_400(client: Client) -> None:
    for params in ({}, {"q": "x", "sort": "new"}, {"q": "x", "after": "bogus"}):
        response = await client.get("/chat/search", params=params, headers=MEMBER)
        assert response.status == 400, params


async def test_a_private_thread_is_found_only_by_those_inside_it(client: Client) -> None:
    creator, participant = headers_of("member"), headers_of("member3")
    private = await new_thread(client, headers=creator, visibility="private")
    patched = await client.patch(
        f"/chat/threads/{private}", json={"participants": ["u_member3"]}, headers=creator
    )
    assert patched.status == 200, await patched.text()
    await post(client, private, "secret walrus plans", headers=creator)
    shared = await new_thread(client, headers=OTHER)
    await post(client, shared, "public walrus facts", headers=OTHER)
    both = ["public walrus facts", "secret walrus plans"]
    assert sorted(await found(client, "walrus", headers=creator)) == both
    assert sorted(await found(client, "walrus", headers=participant)) == both
    assert sorted(await found(client, "walrus", headers=AGENT)) == both
    assert await found(client, "walrus", headers=OTHER) == ["public walrus facts"]
    assert await found(client, "walrus", headers=ADMIN) == ["public walrus facts"]
    response = await client.get(
        "/chat/search", params={"q": "walrus", "thread_id": private}, headers=OTHER
    )
    assert response.status == 404
    unknown = await client.get(
        "/chat/search", params={"q": "walrus", "thread_id": "th_nosuchthread"}, headers=OTHER
    )
    assert unknown.status == 404
    assert (await response.json())["detail"] == (await unknown.json())["detail"]


async def test_another_tenant_or_env_never_finds_a_message(client: Client) -> None:
    thread_id = await new_thread(client)
    await post(client, thread_id, "tenant bound zeppelin")
    assert await found(client, "zeppelin") == ["tenant bound zeppelin"]
    assert await found(client, "zeppelin", headers=headers_of("member", env="prod")) == []
    globex = headers_of("member", tenant="t_globex")
    assert await found(client, "zeppelin", headers=globex) == []


async def test_a_redacted_message_is_not_found_once_the_redaction_is_answered(
    client: Client,
) -> None:
    thread_id = await new_thread(client)
    message = await post(client, thread_id, "regrettable pelican remark")
    assert await found(client, "pelican") == ["regrettable pelican remark"]
    response = await client.delete(
        f"/chat/threads/{thread_id}/messages/{message['id']}", headers=MEMBER
    )
    assert response.status == 204
    assert await found(client, "pelican") == []


async def test_an_erased_authors_messages_are_not_found_once_the_erasure_is_answered(
    client: Client,
) -> None:
    thread_id = await new_thread(client)
    await post(client, thread_id, "erasable quokka words")
    await post(client, thread_id, "quokka words of another", headers=OTHER)
    response = await client.post("/admin/erasures", json={"subject": "u_member"}, headers=ADMIN)
    assert response.status == 202
    assert await found(client, "quokka") == ["quokka words of another"]


async def test_a_generation_is_found_only_once_completed_with_its_whole_text(
    client: Client,
) -> None:
    thread_id = await new_thread(client)
    response = await client.post(
        f"/chat/threads/{thread_id}/messages",
        json={"role": "assistant", "status": "in_progress", "model": "m"},
        headers=AGENT,
    )
    assert response.status == 201, await response.text()
    message_id = (await response.json())["id"]
    base = f"/chat/threads/{thread_id}/messages/{message_id}"
    for index, text in enumerate(["streamed ", "narwhal ", "answer"]):
        chunk = await client.post(
            f"{base}/chunks", json={"index": index, "content": text}, headers=AGENT
        )
        assert chunk.status == 200, await chunk.text()
    assert await found(client, "narwhal") == []
    done = await client.post(f"{base}/complete", json={}, headers=AGENT)
    assert done.status == 200, await done.text()
    assert await found(client, "narwhal answer") == ["streamed narwhal answer"]
