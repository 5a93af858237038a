"""/metrics: Prometheus text with request, store, stream and token-cache series, no content."""

from __future__ import annotations

import asyncio
import re

from prometheus_client.parser import text_string_to_metric_families

from tests.http.helpers import auth_headers, create_thread, post_message
from tests.ops.conftest import Client, OpsClientFactory

SECRET_WORDS = "the-falcon-flies-at-midnight"


async def _scrape(client: Client) -> str:
    async with client.get("/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await response.text()


def _samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


async def _some_traffic(client: Client) -> str:
    headers = auth_headers(tenant="t_acme")
    thread = await create_thread(client, headers)
    await post_message(client, headers, thread["id"], content=SECRET_WORDS)
    async with client.get(f"/chat/threads/{thread['id']}", headers=headers) as response:
        assert response.status == 200
    return str(thread["id"])


async def test_requests_are_counted_by_route_template_and_status(
    ops_client: OpsClientFactory,
) -> None:
    client = await ops_client(sqlite=True)
    thread_id = await _some_traffic(client)
    async with client.get("/chat/threads/th_nope", headers=auth_headers()) as response:
        assert response.status == 404
    samples = _samples(await _scrape(client))
    requests = {
        (labels["method"], labels["route"], labels["status"]): value
        for labels, value in samples["chat_core_http_requests_total"]
    }
    assert requests[("POST", "/chat/threads", "201")] == 1
    assert requests[("POST", "/chat/threads/{thread_id}/messages", "201")] == 1
    assert requests[("GET", "/chat/threads/{thread_id}", "200")] == 1
    assert requests[("GET", "/chat/threads/{thread_id}", "404")] == 1
    buckets = samples["chat_core_http_request_duration_seconds_bucket"]
    assert {labels["route"] for labels, _ in buckets} >= {
        "/chat/threads",
        "/chat/threads/{thread_id}",
    }
    text = await _scrape(client)
    assert thread_id not in text and "th_nope" not in text


async def test_store_stream_and_token_series_are_present(ops_client: OpsClientFactory) -> None:
    client = await ops_client(sqlite=True)
    await _some_traffic(client)
    samples = _samples(await _scrape(client))
    assert samples["chat_core_events_appended_total"][0][1] == 2
    assert samples["chat_core_store_commits_total"][0][1] >= 1
    assert samples["chat_core_store_commit_seconds_count"][0][1] >= 1
    assert samples["chat_core_store_append_seconds_count"][0][1] == 2
    assert samples["chat_core_store_commit_batch_size_count"][0][1] >= 1
    assert {labels["kind"] for labels, _ in samples["chat_core_open_streams"]} == {
        "sse",
        "websocket",
    }
    assert samples["chat_core_token_cache_misses_total"][0][1] == 1
    assert samples["chat_core_token_cache_hits_total"][0][1] == 2
    assert 0.6 < samples["chat_core_token_cache_hit_ratio"][0][1] < 0.7


async def test_an_open_sse_stream_is_counted_until_it_ends(ops_client: OpsClientFactory) -> None:
    client = await ops_client()
    headers = auth_headers()
    thread = await create_thread(client, headers)

    def open_sse() -> float:
        return next(
            value for labels, value in samples["chat_core_open_streams"] if labels["kind"] == "sse"
        )

    async with client.get(f"/chat/threads/{thread['id']}/events", headers=headers) as response:
        assert response.status == 200
        await response.content.readline()
        samples = _samples(await _scrape(client))
        assert open_sse() == 1
    for _ in range(50):
        samples = _samples(await _scrape(client))
        if open_sse() == 0:
            break
        await asyncio.sleep(0.05)
    assert open_sse() == 0


async def test_metrics_name_no_tenant_and_no_content_by_default(
    ops_client: OpsClientFactory,
) -> None:
    client = await ops_client()
    await _some_traffic(client)
    text = await _scrape(client)
    assert "t_acme" not in text and "tenant" not in text
    assert SECRET_WORDS not in text


async def test_tenant_labels_appear_only_when_configured(ops_client: OpsClientFactory) -> None:
    client = await ops_client(metrics_tenant_labels=True)
    await _some_traffic(client)
    text = await _scrape(client)
    assert re.search(r'chat_core_http_requests_total\{[^}]*tenant="t_acme"', text)
    assert SECRET_WORDS not in text


async def test_two_apps_in_one_process_keep_their_own_counts(ops_client: OpsClientFactory) -> None:
    first, second = await ops_client(), await ops_client()
    await _some_traffic(first)
    samples = _samples(await _scrape(second))
    routes = {labels["route"] for labels, _ in samples.get("chat_core_http_requests_total", [])}
    assert "/chat/threads" not in routes


async def test_latency_buckets_add_up_to_the_requests_counted(ops_client: OpsClientFactory) -> None:
    client = await ops_client()
    for _ in range(3):
        async with client.get("/healthz") as response:
            assert response.status == 200
    samples = _samples(await _scrape(client))

    def healthz(name: str) -> list[tuple[dict[str, str], float]]:
        return [(labels, value) for labels, value in samples[name] if labels["route"] == "/healthz"]

    buckets = sorted(
        healthz("chat_core_http_request_duration_seconds_bucket"),
        key=lambda item: float(item[0]["le"]),
    )
    values = [value for _, value in buckets]
    assert values == sorted(values) and values[-1] == 3
    assert buckets[-1][0]["le"] == "+Inf" and len(buckets) == 14
    assert healthz("chat_core_http_request_duration_seconds_count")[0][1] == 3
    assert 0 < healthz("chat_core_http_request_duration_seconds_sum")[0][1] < 3
    assert healthz("chat_core_http_requests_total")[0][1] == 3


async def test_unknown_methods_share_one_label(ops_client: OpsClientFactory) -> None:
    client = await ops_client()
    # Methods the HTTP parser knows (WebDAV) but no route takes: each would be a new label.
    for method in ("PROPFIND", "MKCOL", "LOCK"):
        async with client.request(method, "/healthz") as response:
            assert response.status == 401  # no route takes it, and it sent no token
    samples = _samples(await _scrape(client))
    methods = {labels["method"] for labels, _ in samples["chat_core_http_requests_total"]}
    assert "OTHER" in methods and not methods & {"PROPFIND", "MKCOL", "LOCK"}
    other = [
        v for labels, v in samples["chat_core_http_requests_total"] if labels["method"] == "OTHER"
    ]
    assert sum(other) == 3
