"""The reference: a bare aiohttp server answering the same shapes with no auth, no store."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime

import orjson
from aiohttp import web

MESSAGE = {
    "id": "msg_x",
    "thread_id": "th_x",
    "seq": 1,
    "role": "user",
    "content": "hello",
    "metadata": {},
    "author": "u_bench",
    "created_at": "2026-01-01T00:00:00Z",
    "request_id": "r",
    "redacted": False,
    "erased": False,
}
PAGE = orjson.dumps({"data": [MESSAGE] * 20, "has_more": True, "next": "abc"})


async def post_message(request: web.Request) -> web.Response:
    """Parse the JSON body and answer 201 with a message, as chat-core would."""
    body = orjson.loads(await request.read())
    message = dict(MESSAGE, content=body["content"], id=f"msg_{uuid.uuid4().hex}")
    message["created_at"] = datetime.now(UTC).isoformat()
    return web.Response(status=201, body=orjson.dumps(message), content_type="application/json")


async def hello(_request: web.Request) -> web.Response:
    """Answer a hello world: the framework's limit."""
    return web.Response(text="Hello, world")


async def list_messages(_request: web.Request) -> web.Response:
    """Answer a fixed page of 20 messages."""
    return web.Response(body=PAGE, content_type="application/json")


def main() -> None:
    """Serve on the port given as the only argument."""
    app = web.Application()
    app.router.add_post("/chat/threads/{thread_id}/messages", post_message)
    app.router.add_get("/chat/threads/{thread_id}/messages", list_messages)
    app.router.add_get("/", hello)
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=_loop()
    )


def _loop() -> asyncio.AbstractEventLoop:
    """Use the same loop as chat-core serve: uvloop where installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


if __name__ == "__main__":
    main()
