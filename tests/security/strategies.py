"""Hostile requests: any route of the app with generated path segments, query, headers, body."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from hypothesis import strategies as st

from tests.http.helpers import auth_headers

__all__ = ["RouteShape", "hostile_requests", "route_shapes"]

_VARIABLE = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
HEADER_NAMES = (
    "Authorization",
    "X-Tenant-Id",
    "X-Env",
    "X-Request-Id",
    "Idempotency-Key",
    "If-Match",
    "Content-Type",
    "Last-Event-ID",
    "Accept",
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

# Header values the client can send: printable Latin-1, no CR or LF.
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=300,
)
segments = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["..", ".", "th_", "msg_", "%00", "th_" + "a" * 300, "'; DROP TABLE x;--"]),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=60),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["title", "content", "role", "metadata", "thread_id", "default", "x"])
            | st.text(max_size=10),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


class RouteShape:
    """A route's method and its path template with the variable names."""

    __slots__ = ("method", "template")

    def __init__(self, method: str, template: str) -> None:
        self.method = method
        self.template = template

    def __repr__(self) -> str:
        return f"{self.method} {self.template}"


def route_shapes(app: web.Application) -> list[RouteShape]:
    """Walk the router: every method and path template the app serves."""
    shapes = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if template and route.method != "*":
            shapes.append(RouteShape(route.method, template))
    return shapes


def _fill(template: str, values: list[str]) -> str:
    parts = iter(values)
    return _VARIABLE.sub(lambda _match: quote(next(parts, "x"), safe=""), template)


@st.composite
def hostile_requests(
    draw: st.DrawFn, shapes: list[RouteShape], known_ids: list[str]
) -> dict[str, Any]:
    """Draw one request at a real route, its every part possibly malformed.

    Mostly well authenticated, at real ids, with the route's own method, so the bad parts
    reach the views rather than stop at the first check.
    """
    shape = draw(st.sampled_from(shapes))
    method = draw(st.sampled_from([shape.method] * 8 + list(METHODS)))
    ids = st.sampled_from(known_ids) if known_ids else segments
    path = _fill(shape.template, draw(st.lists(ids | segments, min_size=3, max_size=3)))
    query = draw(st.dictionaries(st.text(max_size=12), st.text(max_size=40), max_size=3))
    headers: dict[str, str] = {}
    if draw(st.sampled_from([True, True, True, True, False])):
        headers.update(auth_headers("u_ada", draw(st.sampled_from(["t_acme", "t_globex"]))))
    for name in draw(st.lists(st.sampled_from(HEADER_NAMES), max_size=2, unique=True)):
        headers[name] = draw(header_values)
    body = draw(
        st.one_of(
            st.none(),
            st.binary(max_size=400),
            json_values.map(lambda value: json.dumps(value).encode()),
        )
    )
    url = path + ("?" + urlencode(query) if query else "")
    request: dict[str, Any] = {"method": method, "url": url, "headers": headers}
    if body is not None and method not in ("GET", "HEAD"):
        request["data"] = body
    return request
