"""Routes are registered inside the pipeline; a path no route takes still passes it."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers, problem_of
from transports.http.access_log import UNMATCHED
from transports.http.routing import UNMATCHED_TEMPLATE, served_routes

Client = TestClient[Any, Any]


async def test_every_served_route_runs_inside_the_pipeline(memory_client: Client) -> None:
    routes = served_routes(memory_client.app)
    assert routes
    for route in routes:
        assert getattr(route.handler, "__wrapped__", None) is not None, route


async def test_the_catch_all_is_registered_last_and_is_not_served(memory_client: Client) -> None:
    last = list(memory_client.app.router.routes())[-1]
    assert last.resource is not None
    assert last.resource.get_info()["formatter"] == UNMATCHED_TEMPLATE.replace(":.*", "")
    assert last not in served_routes(memory_client.app)


async def test_an_unknown_path_is_a_problem_404_for_any_method(memory_client: Client) -> None:
    for method in ("GET", "POST", "PATCH", "DELETE"):
        headers = auth_headers(request_id=f"route-{method}")
        async with memory_client.request(method, "/no/such/route", headers=headers) as response:
            problem = await problem_of(response, 404)
            assert response.headers["X-Request-Id"] == f"route-{method}"
            assert problem["request_id"] == f"route-{method}"


async def test_a_known_path_with_another_method_is_405_with_what_it_allows(
    memory_client: Client,
) -> None:
    async with memory_client.request("PATCH", "/chat/threads", headers=auth_headers()) as response:
        await problem_of(response, 405)
        assert set(response.headers["Allow"].split(",")) >= {"GET", "POST"}


async def test_head_of_a_get_route_is_answered_not_refused(memory_client: Client) -> None:
    async with memory_client.head("/healthz") as response:
        assert response.status == 200
    async with memory_client.head("/chat/threads", headers=auth_headers()) as response:
        assert response.status == 200


async def test_unmatched_requests_are_counted_under_the_unmatched_label(
    memory_client: Client,
) -> None:
    async with memory_client.get("/no/such/route", headers=auth_headers()) as response:
        assert response.status == 404
    async with memory_client.get("/metrics") as response:
        text = await response.text()
    assert f'route="{UNMATCHED}"' in text
    assert "unmatched}" not in text
