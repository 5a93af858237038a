"""A 401's problem detail says why the token was refused, and never echoes the token."""

from __future__ import annotations

import hashlib
import hmac
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

from .helpers import (
    AUDIENCE,
    ISSUER,
    SECRET,
    b64,
    b64json,
    claims,
    hand_hs256,
    public_jwks,
    sign,
)

NOW = int(time.time())
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "rsa-9"})


def _claims(**overrides: Any) -> dict[str, Any]:
    return claims(**{"iat": NOW, "exp": NOW + 3600, **overrides})


def _tokens(keys: dict[str, Key]) -> dict[str, tuple[str, str]]:
    """Return, per case, a token and the reason the server must give for refusing it."""
    rsa = keys["RS256"]
    return {
        "expired": (hand_hs256({"alg": "HS256"}, _claims(exp=NOW - 600)), "expired"),
        "not yet valid": (hand_hs256({"alg": "HS256"}, _claims(nbf=NOW + 600)), "not yet valid"),
        "bad signature": (
            hand_hs256({"alg": "HS256"}, _claims(), b"another-secret-" + b"z" * 30),
            "bad signature",
        ),
        "unknown kid": (sign(STRANGER, "RS256", _claims()), "unknown kid"),
        "wrong issuer": (sign(rsa, "RS256", _claims(iss="https://evil.example")), "wrong issuer"),
        "wrong audience": (sign(rsa, "RS256", _claims(aud="someone-else")), "wrong audience"),
        "algorithm outside the allow-list": (_hs384(), "algorithm not allowed"),
        "alg none": (
            f"{b64json({'alg': 'none'})}.{b64json(_claims())}.c2ln",
            "algorithm not allowed",
        ),
        "not a JWT": ("not-a-jwt", "malformed token"),
        "garbage segments": ("abc.def.ghi", "malformed token"),
        "missing sub": (sign(rsa, "RS256", _claims(sub=None)), "missing sub"),
        "missing exp": (hand_hs256({"alg": "HS256"}, _claims(exp=None)), "missing exp"),
        "too large": (sign(rsa, "RS256", _claims(pad="x" * 9000)), "token too large"),
    }


def _hs384() -> str:
    """Sign with HMAC-SHA384 by hand: a well-made token of an algorithm not allowed."""
    signing_input = f"{b64json({'alg': 'HS384'})}.{b64json(_claims())}"
    mac = hmac.new(SECRET, signing_input.encode(), hashlib.sha384).digest()
    return f"{signing_input}.{b64(mac)}"


CASES = sorted(_tokens({"RS256": STRANGER}))


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
    await server.start_server(**server_options(settings))
    test_client: TestClient[Any, Any] = await aiohttp_client(server)
    return test_client


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Tenant-Id": "t_acme", "X-Env": "dev"}


@pytest.mark.parametrize("case", CASES)
async def test_a_401_says_why_without_echoing_the_token(
    client: TestClient[Any, Any], keys: dict[str, Key], case: str
) -> None:
    token, reason = _tokens(keys)[case]
    answer = await client.get("/chat/threads", headers=_headers(token))
    assert answer.status == 401, case
    assert answer.content_type == "application/problem+json"
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge == f'Bearer error="invalid_token", error_description="{reason}"'
    body = await answer.json(content_type=None)
    assert body["detail"] == f"a valid bearer token is required: {reason}"
    assert body["status"] == 401
    text = json.dumps(body)
    for part in token.split("."):
        assert len(part) < 8 or part not in text, case


@pytest.mark.parametrize("authorization", [None, "Basic dTpw", "Bearer"])
async def test_no_bearer_token_is_a_bare_challenge_that_says_so(
    client: TestClient[Any, Any], authorization: str | None
) -> None:
    headers = {"X-Tenant-Id": "t_acme", "X-Env": "dev"}
    if authorization is not None:
        headers["Authorization"] = authorization
    answer = await client.get("/chat/threads", headers=headers)
    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert (await answer.json(content_type=None))["detail"] == "no bearer token sent"
