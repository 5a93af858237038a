"""The attack corpus through the app: every token is a 401 problem with the bearer challenge."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from joserfc.jwk import Key, RSAKey

from chat_core.bootstrap import bootstrap
from chat_core.settings import Settings
from events.store.memory import MemoryEventStore
from transports.http.app import create_app
from transports.http.limits import server_options

from .corpus import attack_tokens, valid_tokens
from .helpers import AUDIENCE, ISSUER, SECRET, private_keys, public_jwks

NOW = int(time.time())
REMOVED = RSAKey.generate_key(2048, parameters={"kid": "rsa-retired"})
# Names only, for parametrizing; the tokens themselves are built with the session's keys.
NAMES = sorted(
    attack_tokens(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        keys=private_keys(),
        removed=REMOVED,
        now=NOW,
    )
)


@pytest.fixture(scope="module")
def corpus(keys: dict[str, Key]) -> dict[str, str]:
    return attack_tokens(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, keys=keys, removed=REMOVED, now=NOW
    )


@pytest.fixture
async def client(aiohttp_client: Any, keys: dict[str, Key]) -> TestClient[Any, Any]:
    settings = Settings(
        store_url="memory://",
        issuer=ISSUER,
        audience=AUDIENCE,
        hs256_secret=SECRET,
        jwks=json.dumps(public_jwks(keys)),
        rate_limit=None,
    )
    core = await bootstrap(settings=settings, store=MemoryEventStore())
    server = TestServer(create_app(core))
    # The server's own header bounds, so a token over 8 KiB reaches the verifier here too.
    await server.start_server(**server_options(settings))
    test_client: TestClient[Any, Any] = await aiohttp_client(server)
    return test_client


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Tenant-Id": "t_acme", "X-Env": "dev"}


@pytest.mark.parametrize("name", NAMES)
async def test_attack_token_is_a_401_over_http(
    client: TestClient[Any, Any], corpus: dict[str, str], name: str
) -> None:
    answer = await client.post("/chat/threads", json={}, headers=_headers(corpus[name]))
    assert answer.status == 401, name
    assert answer.content_type == "application/problem+json"
    assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    body = await answer.json(content_type=None)
    assert corpus[name] not in json.dumps(body)


async def test_valid_tokens_of_each_algorithm_pass_over_http(
    client: TestClient[Any, Any], keys: dict[str, Key]
) -> None:
    tokens = valid_tokens(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, keys=keys, now=int(time.time())
    )
    for alg, token in tokens.items():
        answer = await client.get("/chat/threads", headers=_headers(token))
        assert answer.status == 200, alg
