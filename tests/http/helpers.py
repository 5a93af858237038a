"""Build the real app, mint tokens and make requests for the HTTP and property tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from joserfc import jwt
from joserfc.jwk import OctKey

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.fold import apply_event, message_subjects
from chat_core.settings import Settings, TemperatureDefaults
from chat_core.state import TemperatureState, ThreadState
from chat_core.tokens import mint_token
from events.envelope import Env
from events.keys import KeyRing
from events.store.base import EventStore, RecordedEvent
from events.store.memory import MemoryEventStore
from transports.http.app import create_app
from transports.http.app_keys import CORE

__all__ = [
    "AUDIENCE",
    "ISSUER",
    "OTHER_SECRET",
    "PUBLIC_PATHS",
    "SECRET",
    "USERS",
    "Answer",
    "SyncApp",
    "all_events",
    "auth_headers",
    "build_app",
    "build_core",
    "create_thread",
    "expect_refusal",
    "fold_log",
    "hand_token",
    "post_message",
    "problem_of",
    "settings",
    "token",
]

SECRET = b"http-suite-secret-" + b"x" * 30
OTHER_SECRET = b"some-other-secret-" + b"y" * 30
ISSUER = "https://idp.test"
AUDIENCE = "chat-core"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"})

# Who belongs where: the same fixed cast in every test.
USERS: Mapping[str, Mapping[str, Sequence[str]]] = {
    "u_ada": {"t_acme": ["member"], "t_globex": ["member", "admin"]},
    "u_bob": {"t_acme": ["member"], "t_globex": ["member"]},
    "u_cyd": {"t_acme": ["admin"]},
    "u_eve": {"t_initech": ["member"]},
}


def settings(**overrides: Any) -> Settings:
    """Return test Settings with the suite's secret, issuer and audience."""
    values: dict[str, Any] = {
        "store_url": "memory://",
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "hs256_secret": SECRET,
        # Off unless a test asks: the suite's bursts are not what the limiter is about.
        "rate_limit": None,
    }
    values.update(overrides)
    return Settings(**values)


async def build_core(
    *,
    store_url: str = "memory://",
    envs: frozenset[Env] | None = None,
    temperature_defaults: TemperatureDefaults | None = None,
    max_body: int | None = None,
    master_key: bytes | None = None,
) -> ChatCore:
    """Bootstrap the real chat core: a MemoryEventStore, or the store the URL names."""
    overrides: dict[str, Any] = {"store_url": store_url}
    if envs is not None:
        overrides["envs"] = envs
    if temperature_defaults is not None:
        overrides["temperature_defaults"] = temperature_defaults
    if max_body is not None:
        overrides["max_body"] = max_body
    if master_key is not None:
        overrides["master_key"] = master_key
    store = MemoryEventStore() if store_url == "memory://" else None
    return await bootstrap(settings=settings(**overrides), store=store)


async def build_app(**options: Any) -> web.Application:
    """Bootstrap a core and wrap it in the aiohttp app."""
    return create_app(await build_core(**options))


def token(
    sub: str = "u_ada",
    tenants: Mapping[str, Sequence[str]] | None = None,
    *,
    ttl: int = 3600,
    now: float | None = None,
    secret: bytes = SECRET,
) -> str:
    """Mint an HS256 token for sub; its tenants default to the cast's memberships."""
    return mint_token(
        secret=secret,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub=sub,
        tenants=USERS.get(sub, {}) if tenants is None else tenants,
        ttl=ttl,
        now=now,
    )


def hand_token(claims_tenants: Mapping[str, Sequence[str]], *, sub: str = "u_ada") -> str:
    """Sign a token whose tenants claim mint_token would refuse (such as t_unknown)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": sub,
        "iat": now,
        "exp": now + 3600,
        "tenants": {tenant: list(roles) for tenant, roles in claims_tenants.items()},
    }
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(SECRET), algorithms=["HS256"])


def auth_headers(
    sub: str = "u_ada",
    tenant: str = "t_acme",
    env: str = "dev",
    *,
    request_id: str | None = None,
    bearer: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """Return the headers of a well-formed request by sub in tenant and env."""
    headers = {
        "Authorization": f"Bearer {token(sub) if bearer is None else bearer}",
        "X-Tenant-Id": tenant,
        "X-Env": env,
    }
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    headers.update({name.replace("_", "-"): value for name, value in extra.items()})
    return headers


async def all_events(store: EventStore, after_position: int = 0) -> list[RecordedEvent]:
    """Return every recorded event after a position, in log order."""
    return [item async for item in store.read_all(after_position=after_position)]


async def fold_log(
    store: EventStore, keys: KeyRing | None = None
) -> tuple[dict[str, ThreadState], dict[str, TemperatureState]]:
    """Fold the whole log, stream by stream, into fresh read-model states (opened with keys)."""
    threads: dict[str, ThreadState] = {}
    temperatures: dict[str, TemperatureState] = {}
    recorded = await all_events(store)
    if keys is not None:
        await keys.prefetch(message_subjects(recorded))
    for item in recorded:
        stream = item.event.stream
        if stream.startswith("chat/"):
            apply_event(threads.setdefault(stream, ThreadState(keys=keys)), item.event)
        elif stream.startswith("temperature/"):
            apply_event(temperatures.setdefault(stream, TemperatureState()), item.event)
    return threads, temperatures


async def problem_of(response: ClientResponse, status: int) -> dict[str, Any]:
    """Check a problem+json answer of status whose request id matches X-Request-Id."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    if response.method == "HEAD":
        return {}
    body: dict[str, Any] = await response.json(content_type=None)
    assert body["status"] == status
    assert {"type", "title", "detail", "request_id"} <= body.keys()
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


async def expect_refusal(
    client: TestClient[Any, Any], method: str, path: str, status: int, **request: Any
) -> tuple[ClientResponse, dict[str, Any]]:
    """Make a request that must be refused with status and must append no event."""
    store = client.app[CORE].store
    head = await store.head_position()
    response = await client.request(method, path, **request)
    body = await problem_of(response, status)
    assert await store.head_position() == head, f"{method} {path} appended despite {status}"
    return response, body


async def create_thread(
    client: TestClient[Any, Any], headers: Mapping[str, str], **body: Any
) -> dict[str, Any]:
    """Open a thread and return it."""
    response = await client.post("/chat/threads", json=body, headers=headers)
    assert response.status == 201, await response.text()
    thread: dict[str, Any] = await response.json()
    return thread


async def post_message(
    client: TestClient[Any, Any], headers: Mapping[str, str], thread_id: str, content: str
) -> dict[str, Any]:
    """Post a message to a thread and return it."""
    response = await client.post(
        f"/chat/threads/{thread_id}/messages", json={"content": content}, headers=headers
    )
    assert response.status == 201, await response.text()
    message: dict[str, Any] = await response.json()
    return message


class Answer:
    """What a synchronous request got back: status, headers and raw body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        """Parse the body as JSON."""
        return orjson.loads(self.body)


class SyncApp:
    """Drive the real app from synchronous code (Hypothesis) through one asyncio.Runner."""

    def __init__(self, **options: Any) -> None:
        self._runner = asyncio.Runner()
        self.client: TestClient[Any, Any] = self._runner.run(self._start(options))
        self.store: EventStore = self.client.app[CORE].store

    @staticmethod
    async def _start(options: Mapping[str, Any]) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(TestServer(await build_app(**options)))
        await client.start_server()
        return client

    def request(self, method: str, path: str, **request: Any) -> Answer:
        """Make one request and read its whole answer."""
        return self._runner.run(self._request(method, path, request))

    async def _request(self, method: str, path: str, request: Mapping[str, Any]) -> Answer:
        async with self.client.request(method, path, **request) as response:
            body = await response.read()
            return Answer(response.status, response.headers.copy(), body)

    def head(self) -> int:
        """Return the store's head position."""
        return self._runner.run(self.store.head_position())

    def events(self, after_position: int = 0) -> list[RecordedEvent]:
        """Return the recorded events after a position."""
        return self._runner.run(all_events(self.store, after_position))

    def run(self, coroutine: Any) -> Any:
        """Run any coroutine on the app's loop."""
        return self._runner.run(coroutine)

    def close(self) -> None:
        """Stop the server, close the core and the loop."""
        try:
            self._runner.run(self.client.close())
        finally:
            self._runner.close()
