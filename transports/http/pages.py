"""The query of a listing: limit, after (a cursor) and, where it takes one, order."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web

from transports.http.problems import HTTPProblem

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "PageParams", "page_params"]

# Cursors are unpadded base64url; base64 decoding would skip stray characters, so refuse them.
CURSOR = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
_PAGE_NAMES = frozenset({"limit", "after"})
_ORDERED_PAGE_NAMES = _PAGE_NAMES | {"order"}


class PageParams:
    """The limit, after and order of a listing."""

    __slots__ = ("after", "limit", "order")

    def __init__(self, limit: int, after: str | None, order: str) -> None:
        self.limit = limit
        self.after = after
        self.order = order


def page_params(
    request: web.Request,
    *,
    orders: tuple[str, ...] = (),
    also: frozenset[str] = frozenset(),
    filters: Callable[[str], bool] | None = None,
) -> PageParams:
    """Parse limit, after (and order where allowed); anything else or malformed is 400.

    also names further parameters the listing reads itself (each at most once); filters
    tells the names of a listing's own filters, which it parses itself (and which
    may repeat); the page's own names are given once.
    """
    allowed = _ORDERED_PAGE_NAMES if orders else _PAGE_NAMES
    if also:
        allowed = allowed | also
    query = request.query
    names = set(query)
    if filters is not None:
        names = {name for name in names if name in allowed or not filters(name)}
    if not names <= allowed:
        raise HTTPProblem(400, f"unknown query parameter: {', '.join(sorted(names - allowed))}")
    if len(names) != len(query):
        for name in names:
            if len(query.getall(name)) > 1:
                raise HTTPProblem(400, f"query parameter {name} is given more than once")
    limit = DEFAULT_LIMIT
    if "limit" in query:
        text = query["limit"]
        if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
            raise HTTPProblem(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(text)
    order = orders[0] if orders else ""
    if "order" in query:
        order = query["order"]
        if order not in orders:
            raise HTTPProblem(400, f"order must be one of: {', '.join(orders)}")
    after = query.get("after")
    if after is not None and CURSOR.fullmatch(after) is None:
        raise HTTPProblem(400, "after must be a cursor from a previous page")
    return PageParams(limit, after, order)
