"""The console: served without a token in dev mode, absent (401) in prod; docs name it so."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.http.helpers import auth_headers
from tests.ops.conftest import OpsClientFactory
from transports.http.console_views import CONSOLE_ROUTES
from transports.http.openapi import CONSOLE_OPERATIONS, OPERATIONS


async def test_dev_mode_serves_the_console_page_and_files_without_a_token(
    ops_client: OpsClientFactory,
) -> None:
    client = await ops_client(mode="dev")
    async with client.get("/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        page = await response.text()
    assert '<script src="/console/console.js">' in page
    assert '<script src="/console/stream.js">' in page
    assert "http://" not in page and "https://" not in page
    assets = (("console.js", "text/javascript"), ("stream.js", "text/javascript"))
    for name, media in (*assets, ("console.css", "text/css")):
        async with client.get(f"/console/{name}") as response:
            assert (response.status, response.content_type) == (200, media)
            assert "https://" not in await response.text()


async def test_an_unknown_console_file_is_a_404(ops_client: OpsClientFactory) -> None:
    client = await ops_client(mode="dev")
    async with client.get("/console/secrets.txt") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"


async def test_prod_mode_has_no_console(ops_client: OpsClientFactory) -> None:
    client = await ops_client(mode="prod")
    for path in ("/", "/console/console.js"):
        async with client.get(path) as response:
            assert response.status == 401
        async with client.get(path, headers=auth_headers()) as response:
            assert response.status == 404


async def test_prod_documents_exactly_its_routes(ops_client: OpsClientFactory) -> None:
    client = await ops_client(mode="prod")
    registered = _registered(client)
    assert registered == set(OPERATIONS) - CONSOLE_OPERATIONS
    async with client.get("/openapi.json") as response:
        paths = (await response.json())["paths"]
    assert "/" not in paths and "/console/{asset}" not in paths
    async with client.get("/docs") as response:
        assert "/console/{asset}" not in await response.text()


async def test_dev_documents_the_console(ops_client: OpsClientFactory) -> None:
    client = await ops_client(mode="dev")
    assert _registered(client) == set(OPERATIONS)
    assert {path for _, path in CONSOLE_OPERATIONS} == CONSOLE_ROUTES


async def test_docs_render_parameters_bodies_and_responses(ops_client: OpsClientFactory) -> None:
    client = await ops_client()
    async with client.get("/docs") as response:
        assert response.status == 200
        page = await response.text()
    assert "<script" not in page and "https://" not in page.replace("https://idp", "")
    for needle in (
        "X-Tenant-Id",
        "Idempotency-Key",
        "Request body (required)",
        'href="#schema-PostMessage"',
        'id="schema-Message"',
        "application/problem+json",
        "/metrics",
    ):
        assert needle in page, needle


def _registered(client: TestClient) -> set[tuple[str, str]]:  # type: ignore[type-arg]
    return {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
