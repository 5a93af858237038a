"""GET and PUT /temperature/config: roles, defaults, validation, If-Match, ETag, replays."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chat_core.settings import TemperatureDefaults
from events.store.base import EventStore
from tests.http.conftest import ClientFactory
from tests.http.helpers import auth_headers, expect_refusal, token

Client = TestClient[Any, Any]
PATH = "/temperature/config"
ADMIN = ("u_ada", "t_globex")
MEMBER = ("u_bob", "t_globex")
VALID = {"default": 0.7, "min": 0.1, "max": 1.5, "overrides": {"gpt-x": 0.2}}


async def _put(client: Client, body: Any, **headers: str) -> Any:
    return await client.put(PATH, json=body, headers={**auth_headers(*ADMIN), **headers})


async def test_no_token_is_401_with_a_bare_challenge(memory_client: Client) -> None:
    headers = auth_headers(*MEMBER)
    del headers["Authorization"]
    response, _ = await expect_refusal(memory_client, "GET", PATH, 401, headers=headers)
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_bad_token_is_401_invalid_token(memory_client: Client) -> None:
    headers = auth_headers(*ADMIN, bearer=token("u_ada")[:-3] + "abc")
    for method in ("GET", "PUT"):
        response, _ = await expect_refusal(memory_client, method, PATH, 401, headers=headers)
        assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


async def test_tenant_the_token_lacks_is_403(client: Client) -> None:
    headers = auth_headers("u_eve", "t_globex")
    await expect_refusal(client, "GET", PATH, 403, headers=headers)
    await expect_refusal(client, "PUT", PATH, 403, headers=headers, json=VALID)


@pytest.mark.parametrize("caller", [MEMBER, ADMIN], ids=["member", "admin"])
async def test_members_and_admins_read_the_defaults_at_version_0(
    client: Client, caller: tuple[str, str]
) -> None:
    response = await client.get(PATH, headers=auth_headers(*caller, env="staging"))
    assert response.status == 200
    assert response.headers["ETag"] == '"0"'
    assert await response.json() == {
        "tenant": "t_globex",
        "env": "staging",
        "default": 1.0,
        "min": 0.0,
        "max": 2.0,
        "overrides": {},
        "version": 0,
        "updated_at": None,
        "updated_by": None,
    }


async def test_configured_defaults_are_served_before_any_write(
    make_client: ClientFactory,
) -> None:
    defaults = TemperatureDefaults(
        default=0.5, min=0.2, max=0.9, overrides=MappingProxyType({"m1": 0.3})
    )
    client = await make_client(temperature_defaults=defaults)
    body = await (await client.get(PATH, headers=auth_headers(*MEMBER))).json()
    assert (body["default"], body["min"], body["max"], body["overrides"]) == (
        0.5,
        0.2,
        0.9,
        {"m1": 0.3},
    )
    assert body["version"] == 0


async def test_admin_put_bumps_the_version_and_tags_it(client: Client) -> None:
    first = await _put(client, VALID)
    assert first.status == 200
    assert first.headers["ETag"] == '"1"'
    body = await first.json()
    assert body["version"] == 1
    assert body["updated_by"] == "u_ada"
    assert body["overrides"] == {"gpt-x": 0.2}
    second = await _put(client, {**VALID, "default": 0.9})
    assert second.headers["ETag"] == '"2"'
    read = await client.get(PATH, headers=auth_headers(*MEMBER))
    assert read.headers["ETag"] == '"2"'
    assert (await read.json())["default"] == 0.9


async def test_member_put_is_403(client: Client) -> None:
    await expect_refusal(client, "PUT", PATH, 403, headers=auth_headers(*MEMBER), json=VALID)


async def test_config_is_per_tenant_and_env(memory_client: Client) -> None:
    await _put(memory_client, VALID)
    other_env = await memory_client.get(PATH, headers=auth_headers(*ADMIN, env="prod"))
    assert (await other_env.json())["version"] == 0
    other_tenant = await memory_client.get(PATH, headers=auth_headers("u_cyd", "t_acme"))
    assert (await other_tenant.json())["version"] == 0


INVALID = {
    "min-over-max": {"default": 1.0, "min": 1.5, "max": 1.0},
    "default-below-min": {"default": 0.1, "min": 0.5, "max": 1.0},
    "default-above-max": {"default": 1.5, "min": 0.5, "max": 1.0},
    "override-outside": {"default": 1.0, "min": 0.5, "max": 1.5, "overrides": {"m": 1.9}},
    "over-two": {"default": 1.0, "min": 0.0, "max": 2.5},
    "negative": {"default": 1.0, "min": -0.1, "max": 2.0},
    "string": {"default": "1.0", "min": 0.0, "max": 2.0},
    "bool": {"default": True, "min": 0.0, "max": 2.0},
    "override-string": {"default": 1.0, "min": 0.0, "max": 2.0, "overrides": {"m": "x"}},
    "overrides-list": {"default": 1.0, "min": 0.0, "max": 2.0, "overrides": [1]},
    "unknown-field": {"default": 1.0, "min": 0.0, "max": 2.0, "temperature": 1},
    "null": {"default": None, "min": 0.0, "max": 2.0},
    "missing": {"min": 0.0, "max": 2.0},
    "not-an-object": [1.0, 0.0, 2.0],
}


@pytest.mark.parametrize("body", INVALID.values(), ids=INVALID.keys())
async def test_invalid_config_is_422_with_errors(memory_client: Client, body: Any) -> None:
    _, problem = await expect_refusal(
        memory_client, "PUT", PATH, 422, headers=auth_headers(*ADMIN), json=body
    )
    assert problem["errors"]
    for error in problem["errors"]:
        assert set(error) == {"field", "message"}


async def test_if_match_mismatch_is_412(client: Client) -> None:
    await _put(client, VALID)
    for tag in ('"0"', '"2"', "0", 'W/"1"', "garbage"):
        await expect_refusal(
            client, "PUT", PATH, 412, headers={**auth_headers(*ADMIN), "If-Match": tag}, json=VALID
        )


async def test_if_match_star_or_current_strong_tag_is_accepted(client: Client) -> None:
    first = await _put(client, VALID, **{"If-Match": '"0"'})
    assert first.status == 200
    second = await _put(client, VALID, **{"If-Match": first.headers["ETag"]})
    assert second.status == 200
    third = await _put(client, VALID, **{"If-Match": "*"})
    assert third.status == 200
    assert third.headers["ETag"] == '"3"'


async def test_idempotent_put_replays_the_first_answer(client: Client, store: EventStore) -> None:
    first = await _put(client, VALID, **{"Idempotency-Key": "put-1"})
    assert first.status == 200
    first_body = await first.read()
    head = await store.head_position()
    replay = await _put(client, VALID, **{"Idempotency-Key": "put-1"})
    assert replay.status == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["ETag"] == '"1"'
    assert await replay.read() == first_body
    assert await store.head_position() == head
    read = await client.get(PATH, headers=auth_headers(*ADMIN))
    assert (await read.json())["version"] == 1
