"""A search page's body is the contract's object as orjson writes it, each message's own JSON
spliced in: byte for byte what serialising the whole page at once writes."""

from __future__ import annotations

import orjson

from tests.search.helpers import MEMBER, Client, new_thread, post


async def _body(client: Client, **params: str) -> bytes:
    response = await client.get("/chat/search", params=params, headers=MEMBER)
    assert response.status == 200, await response.text()
    return await response.read()


async def test_a_page_body_is_the_page_object_serialised_at_once(memory_client: Client) -> None:
    thread_id = await new_thread(memory_client)
    texts = ['say "hi" \\ to\nthe "moon" ✓', "moon\u2028line", "moon é 東京 \x01 </script>"]
    posted = [await post(memory_client, thread_id, text) for text in texts]
    for limit in ("1", "2", "20"):
        body = await _body(memory_client, q="moon", limit=limit)
        page = orjson.loads(body)
        assert body == orjson.dumps(page)
        assert list(page) == ["data", "has_more", "next"]
        assert [list(hit) for hit in page["data"]] == [["message", "snippet"]] * len(page["data"])
        assert page["has_more"] is (limit != "20")
        assert (page["next"] is None) is (limit == "20")
    body = await _body(memory_client, q="moon", limit="20")
    found = {hit["message"]["id"]: hit["message"] for hit in orjson.loads(body)["data"]}
    assert found == {message["id"]: message for message in posted}


async def test_a_page_of_no_hits_is_empty(memory_client: Client) -> None:
    assert await _body(memory_client, q="nothing") == b'{"data":[],"has_more":false,"next":null}'
