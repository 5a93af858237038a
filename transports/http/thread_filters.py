"""The filters of GET /chat/threads: archived, created_by and metadata.<key>=<value>."""

from __future__ import annotations

from aiohttp import web

from chat_core.thread_listing import ThreadFilter
from chat_core.tokens.claims import MAX_SUB_CHARS, sub_problem
from transports.http.app_keys import AUTH
from transports.http.problems import HTTPProblem

__all__ = ["METADATA_PREFIX", "is_thread_filter", "thread_filter"]

METADATA_PREFIX = "metadata."
_ARCHIVED = {"false": False, "true": True, "all": None}
_NAMES = frozenset({"archived", "created_by"})
# The bounds a thread's metadata keys and values have (chat_views): a filter beyond them
# could match nothing, so it is refused as malformed.
_MAX_KEY = 64
_MAX_VALUE = 1024


def is_thread_filter(name: str) -> bool:
    """Tell whether a query parameter name is one of the thread listing's filters."""
    return name in _NAMES or name.startswith(METADATA_PREFIX)


def thread_filter(request: web.Request) -> ThreadFilter:
    """Parse the listing's filters, else a 400 problem saying which one is malformed."""
    query = request.query
    for name in _NAMES:
        if len(query.getall(name, ())) > 1:
            raise HTTPProblem(400, f"query parameter {name} is given more than once")
    archived: bool | None = False
    if "archived" in query:
        text = query["archived"]
        if text not in _ARCHIVED:
            raise HTTPProblem(400, "archived must be one of: false, true, all")
        archived = _ARCHIVED[text]
    created_by = query.get("created_by")
    if created_by is not None:
        if created_by == "me":
            created_by = request[AUTH].sub
        elif sub_problem(created_by) is not None:
            raise HTTPProblem(
                400,
                f"created_by must be me or a subject of 1 to {MAX_SUB_CHARS} characters,"
                " unpadded, without control characters",
            )
    metadata: list[tuple[str, str]] = []
    for name, value in query.items():
        if not name.startswith(METADATA_PREFIX):
            continue
        key = name.removeprefix(METADATA_PREFIX)
        if not 1 <= len(key) <= _MAX_KEY:
            raise HTTPProblem(400, f"a metadata filter's key must be 1 to {_MAX_KEY} characters")
        if len(value) > _MAX_VALUE:
            raise HTTPProblem(
                400, f"the metadata.{key} filter's value must be at most {_MAX_VALUE} characters"
            )
        metadata.append((key, value))
    return ThreadFilter(archived=archived, created_by=created_by, metadata=tuple(metadata))
