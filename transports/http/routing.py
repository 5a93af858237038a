"""Route resolution: aiohttp's, with each prefix's candidates narrowed to the path's depth.

aiohttp indexes a route with a variable part under its literal prefix, so every route
under `/chat/threads/{thread_id}/…` shares one list, tried in registration order, one
coroutine and one regex each: a chunk (`…/messages/{message_id}/chunks`) was the seventh
candidate. A variable part with aiohttp's default pattern (`[^{}/]+`) never holds a `/`,
so a route matches only paths with as many segments as its template: DepthRouter keeps,
per prefix, one list per depth in the same order, and tries only the path's. Routes it
cannot be sure of (a custom pattern, a prefix or sub-app resource) stay in every list, so
the first match, and the 405's allowed methods, are aiohttp's own
(tests/http/test_routing.py holds the two to the same answer for every route).

Measured with `python -m bench.instructions` (logs off, same sitting): a chunk 734,897
instructions per request with aiohttp's resolution, 692,538 with this one (-5.8%); a
message POST, first in its list either way, 724,302 and 729,584 (within the sitting's
spread under load).
"""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.web_urldispatcher import (
    AbstractResource,
    DynamicResource,
    MatchInfoError,
    PlainResource,
    UrlMappingMatchInfo,
)

__all__ = ["DepthRouter", "depth_of"]

# A variable part as aiohttp compiles it when the route names no pattern of its own.
_GROUP = re.compile(r"\(\?P<\w+>(.*?)\)")
_DEFAULT_PART = "[^{}/]+"
# The key of the candidates that may match a path of any depth.
_ANY = -1


def depth_of(path: str) -> int:
    """Return a path's number of segments, as its slashes count them."""
    return path.count("/")


def _fixed_depth(resource: AbstractResource) -> int:
    """Return the depth of every path the resource can match, or _ANY when unsure."""
    if isinstance(resource, PlainResource):
        return depth_of(resource.canonical)
    if isinstance(resource, DynamicResource):
        pattern = resource.get_info()["pattern"].pattern
        if all(part == _DEFAULT_PART for part in _GROUP.findall(pattern)):
            return depth_of(resource.canonical)
    return _ANY


class DepthRouter(web.UrlDispatcher):
    """A UrlDispatcher that tries, under each prefix, only the routes of the path's depth."""

    def __init__(self) -> None:
        super().__init__()
        self._by_depth: dict[str, dict[int, list[AbstractResource]]] | None = None

    def freeze(self) -> None:
        """Freeze the routes, then index each prefix's candidates by depth, in order."""
        super().freeze()
        index: dict[str, dict[int, list[AbstractResource]]] = {}
        for prefix, candidates in self._resource_index.items():
            depths = {_fixed_depth(resource) for resource in candidates} | {_ANY}
            index[prefix] = {
                depth: [
                    resource for resource in candidates if _fixed_depth(resource) in (depth, _ANY)
                ]
                for depth in depths
            }
        self._by_depth = index

    def candidates_at(self, prefix: str, depth: int) -> list[AbstractResource]:
        """Return the routes tried, in order, for a path of this depth under this prefix."""
        assert self._by_depth is not None, "the index is built when the router is frozen"
        by_depth = self._by_depth[prefix]
        return by_depth.get(depth) or by_depth[_ANY]

    async def resolve(self, request: web.Request) -> UrlMappingMatchInfo:
        """Resolve as aiohttp does, trying only the candidates of the path's depth."""
        index = self._by_depth
        if index is None or self._matched_sub_app_resources:
            return await super().resolve(request)
        allowed_methods: set[str] = set()
        url_part = request.rel_url.path_safe
        depth = depth_of(url_part)
        while url_part:
            by_depth = index.get(url_part)
            if by_depth is not None:
                for candidate in by_depth.get(depth) or by_depth[_ANY]:
                    match_dict, allowed = await candidate.resolve(request)
                    if match_dict is not None:
                        return match_dict
                    allowed_methods |= allowed
            if url_part == "/":
                break
            url_part = url_part.rpartition("/")[0] or "/"
        if allowed_methods:
            return MatchInfoError(web.HTTPMethodNotAllowed(request.method, allowed_methods))
        return MatchInfoError(web.HTTPNotFound())
