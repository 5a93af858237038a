"""GET /chat/search: the messages the caller may read that hold every word of q."""

from __future__ import annotations

from aiohttp import web

from events.search.terms import QueryError, parse_query
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.pages import page_params
from transports.http.problems import HTTPProblem
from transports.http.requests import json_bytes_response

__all__ = ["MAX_THREAD_ID", "routes"]

MAX_THREAD_ID = 128
_QUERY_NAMES = frozenset({"q", "thread_id"})

routes = web.RouteTableDef()


@routes.get("/chat/search")
async def search(request: web.Request) -> web.Response:
    """Search this tenant and env's messages, best match first; a bad q is 400."""
    params = page_params(request, also=_QUERY_NAMES)
    query = request.query.get("q")
    if query is None:
        raise HTTPProblem(
            400, "q is missing: give the words to search for", errors=[("q", "is required")]
        )
    try:
        terms = parse_query(query)
    except QueryError as exc:
        raise HTTPProblem(400, str(exc), errors=[("q", str(exc))]) from None
    thread_id = request.query.get("thread_id")
    if thread_id is not None and not 1 <= len(thread_id) <= MAX_THREAD_ID:
        raise HTTPProblem(400, f"thread_id must be 1 to {MAX_THREAD_ID} characters")
    page = await request.app[CORE].queries.search(
        request[CONTEXT],
        request[AUTH],
        terms=terms,
        thread_id=thread_id,
        limit=params.limit,
        after=params.after,
    )
    return json_bytes_response(200, page.json_bytes())
