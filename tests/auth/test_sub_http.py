"""A token's sub becomes the actor and author of what its caller writes: it must be fit for that.

Control and format characters (CR, LF, ESC, NUL, bidi overrides, zero-width marks, line
separators) and subs longer than 255 characters are refused with 401 and a detail that
says why; printable subs up to 255 characters, non-ASCII ones too, are taken as before.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.tokens import mint_token
from tests.http.helpers import AUDIENCE, ISSUER, SECRET, build_app, hand_token

Client = TestClient[Any, Any]
TENANTS = {"t_acme": ["member"]}

REFUSED = {
    "carriage return": ("u_ada\rX-Injected: 1", "control character"),
    "line feed": ("u_ada\nforged log line", "control character"),
    "escape": ("u_ada\x1b[31m", "control character"),
    "nul": ("u_ada\x00", "control character"),
    "delete": ("u_ada\x7f", "control character"),
    "c1 control": ("u_ada\x85", "control character"),
    "zero-width space": ("u_\u200bada", "control character"),
    "right-to-left override": ("u_\u202eada", "control character"),
    "byte order mark": ("\ufeffu_ada", "control character"),
    "line separator": ("u_ada\u2028", "control character"),
    "256 characters": ("u" * 256, "255 characters"),
    "5,000 characters": ("u" * 5000, "255 characters"),
}
TAKEN = {
    "255 characters": "u" * 255,
    "non-ASCII letters": "u_zoë_日本",
    "inner space": "Ada Lovelace",
    "issuer style": "auth0|5f7c8ec7c33c6c004bbafe82",
}


@pytest.fixture
async def client(aiohttp_client: Any) -> Client:
    app_client: Client = await aiohttp_client(await build_app())
    return app_client


def _headers(sub: str) -> dict[str, str]:
    token = hand_token(TENANTS, sub=sub)
    return {"Authorization": f"Bearer {token}", "X-Tenant-Id": "t_acme", "X-Env": "dev"}


@pytest.mark.parametrize("name", sorted(REFUSED))
async def test_a_sub_unfit_to_be_an_actor_is_a_401_that_says_why(client: Client, name: str) -> None:
    sub, reason = REFUSED[name]
    answer = await client.post("/chat/threads", json={}, headers=_headers(sub))
    assert answer.status == 401, name
    assert answer.content_type == "application/problem+json"
    detail = (await answer.json())["detail"]
    assert "sub" in detail and reason in detail, detail
    assert answer.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    listed = await client.get("/chat/threads", headers=_headers("u_ada"))
    assert (await listed.json())["data"] == []  # nothing was written


@pytest.mark.parametrize("name", sorted(TAKEN))
async def test_a_printable_sub_up_to_255_characters_is_taken(client: Client, name: str) -> None:
    sub = TAKEN[name]
    created = await client.post("/chat/threads", json={}, headers=_headers(sub))
    assert created.status == 201, await created.text()
    assert (await created.json())["created_by"] == sub


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_mint_token_refuses_a_sub_the_verifier_refuses(name: str) -> None:
    sub, reason = REFUSED[name]
    with pytest.raises(ValueError, match=reason):
        mint_token(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, sub=sub, tenants=TENANTS)
