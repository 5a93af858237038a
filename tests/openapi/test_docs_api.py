"""docs/api.md and the served /openapi.json name the same routes, and agree on their statuses.

The docs' route tables give one row per route, `| `METHOD /path` | statuses | does |`; the
reader below takes every such row and refuses one it cannot read, so a route written in
another shape fails here instead of going unchecked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# A path template as OpenAPI writes it: no query string, parameters in braces.
ROUTE_CELL = re.compile(rf"`({'|'.join(METHODS)}) (/[A-Za-z0-9_.{{}}/-]*)`")
STATUSES_CELL = re.compile(r"[1-5][0-9]{2}(, [1-5][0-9]{2})*")

Route = tuple[str, str]


def documented_routes(text: str) -> dict[Route, set[int]]:
    """Read the statuses of each route row of the docs' tables, refusing a malformed one."""
    routes: dict[Route, set[int]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        # Only the first two cells matter; the third may hold escaped pipes.
        cells = [cell.strip() for cell in line.split("|", 3)]
        if len(cells) < 3 or cells[0] or not cells[1].startswith(tuple(f"`{m} " for m in METHODS)):
            continue
        route_cell, statuses_cell = cells[1], cells[2]
        route = ROUTE_CELL.fullmatch(route_cell)
        if route is None:
            raise ValueError(f"line {number}: not a `METHOD /path` cell: {route_cell}")
        if STATUSES_CELL.fullmatch(statuses_cell) is None:
            raise ValueError(f"line {number}: not a list of statuses: {statuses_cell}")
        key = (route[1], route[2])
        if key in routes:
            raise ValueError(f"line {number}: {key[0]} {key[1]} is documented twice")
        routes[key] = {int(status) for status in statuses_cell.split(", ")}
    return routes


def served_routes(document: dict[str, Any]) -> dict[Route, set[int]]:
    """Return the documented response statuses of each (method, path) of an OpenAPI document."""
    return {
        (method.upper(), path): {int(status) for status in operation["responses"]}
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method.upper() in METHODS
    }


@pytest.fixture
def docs() -> dict[Route, set[int]]:
    return documented_routes(DOCS.read_text(encoding="utf-8"))


@pytest.fixture
async def served(client: TestClient[Any, Any]) -> dict[Route, set[int]]:
    async with client.get("/openapi.json") as response:
        assert response.status == 200
        return served_routes(await response.json())


def test_reader_takes_a_route_row_and_skips_other_tables() -> None:
    text = (
        "| header | rule |\n| --- | --- |\n| `X-Env` | required |\n\n"
        "| route | statuses | does |\n| --- | --- | --- |\n"
        '| `POST /chat/threads/{thread_id}/messages` | 201, 404 | role "user" \\| "system" |\n'
    )
    assert documented_routes(text) == {("POST", "/chat/threads/{thread_id}/messages"): {201, 404}}


@pytest.mark.parametrize(
    "row",
    [
        "| `GET /chat/threads` | two hundred | lists |",
        "| `GET /chat/threads?limit=` | 200 | lists |",
        "| `GET chat/threads` | 200 | lists |",
        "| `GET /chat/threads` | 200 | lists |\n| `GET /chat/threads` | 200, 400 | again |",
    ],
)
def test_reader_refuses_a_route_row_it_cannot_read(row: str) -> None:
    with pytest.raises(ValueError):
        documented_routes(row)


def test_docs_name_routes(docs: dict[Route, set[int]]) -> None:
    assert ("POST", "/chat/threads/{thread_id}/messages") in docs


def test_every_documented_route_is_served(
    docs: dict[Route, set[int]], served: dict[Route, set[int]]
) -> None:
    assert sorted(set(docs) - set(served)) == []


def test_every_served_route_is_documented(
    docs: dict[Route, set[int]], served: dict[Route, set[int]]
) -> None:
    assert sorted(set(served) - set(docs)) == []


def test_every_documented_status_is_a_served_response(
    docs: dict[Route, set[int]], served: dict[Route, set[int]]
) -> None:
    unserved = {
        route: sorted(statuses - served[route])
        for route, statuses in docs.items()
        if route in served and statuses - served[route]
    }
    assert unserved == {}


def test_every_served_success_status_is_documented(
    docs: dict[Route, set[int]], served: dict[Route, set[int]]
) -> None:
    missing = {}
    for route, statuses in served.items():
        success = {status for status in statuses if status < 300}
        if route in docs and success - docs[route]:
            missing[route] = sorted(success - docs[route])
    assert missing == {}
