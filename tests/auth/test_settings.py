"""TokenSettings, JWKS loading, minting and the CLI tenant spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from joserfc.jwk import Key, KeySet, OctKey, RSAKey

from chat_core.tokens import (
    InvalidToken,
    TokenSettings,
    TokenVerifier,
    load_jwks,
    mint_token,
    parse_tenant_roles,
)

from .helpers import AUDIENCE, ISSUER, NOW, SECRET, public_jwks


def test_default_algorithms_follow_the_configured_keys(keys: dict[str, Key]) -> None:
    jwks = public_jwks(keys)
    hs = TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET)
    pk = TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=jwks)
    both = TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, jwks=jwks)
    assert hs.algorithms == ("HS256",)
    assert pk.algorithms == ("RS256", "ES256", "EdDSA")
    assert both.algorithms == ("HS256", "RS256", "ES256", "EdDSA")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"hs256_secret": b"short"},
        {"hs256_secret": "s" * 40},
        {"hs256_secret": SECRET, "algorithms": ("none",)},
        {"hs256_secret": SECRET, "algorithms": ("HS512",)},
        {"hs256_secret": SECRET, "algorithms": ("RS256",)},
        {"hs256_secret": SECRET, "algorithms": ()},
        {"hs256_secret": SECRET, "leeway": -1},
        {"hs256_secret": SECRET, "cache_size": -1},
        {"hs256_secret": SECRET, "issuer": ""},
    ],
)
def test_unusable_settings_are_refused_at_start(kwargs: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        TokenSettings(**{"issuer": ISSUER, "audience": AUDIENCE, **kwargs})  # type: ignore[arg-type]


def test_rsa_public_pem_is_refused_as_hs256_secret(keys: dict[str, Key]) -> None:
    rsa = keys["RS256"]
    assert isinstance(rsa, RSAKey)
    with pytest.raises(ValueError):
        TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=rsa.as_pem(private=False))


def test_jwks_with_a_symmetric_key_is_refused() -> None:
    oct_jwks = {"keys": [OctKey.import_key(SECRET, {"kid": "k"}).as_dict(private=True)]}
    with pytest.raises(ValueError, match="oct"):
        TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=oct_jwks)


def test_jwks_private_keys_are_kept_public_only(keys: dict[str, Key]) -> None:
    settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=KeySet(list(keys.values())))
    assert settings.jwks is not None
    assert not any(key.is_private for key in settings.jwks)


def test_load_jwks_reads_a_file_or_inline_json(tmp_path: Path, keys: dict[str, Key]) -> None:
    jwks = public_jwks(keys)
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    from_file = load_jwks(str(path))
    inline = load_jwks(json.dumps(jwks))
    assert [key.kid for key in from_file] == ["rsa-1", "ec-1", "ed-1"]
    assert [key.kid for key in inline] == ["rsa-1", "ec-1", "ed-1"]


@pytest.mark.parametrize("source", ["/nonexistent/jwks.json", "{not json", '{"keys": 1}', "{}"])
def test_load_jwks_refuses_unusable_input(source: str) -> None:
    with pytest.raises(ValueError):
        load_jwks(source)


def test_settings_accept_a_jwks_path(tmp_path: Path, keys: dict[str, Key]) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(public_jwks(keys)))
    settings = TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=str(path))
    assert settings.jwks is not None


def test_minted_token_carries_ttl_and_kid() -> None:
    token = mint_token(
        secret=SECRET,
        issuer=ISSUER,
        audience=AUDIENCE,
        sub="u_ada",
        tenants={"t_acme": ["member"]},
        ttl=60,
        now=NOW,
        kid="dev",
    )
    verifier = TokenVerifier(TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET))
    assert verifier.verify(token, now=NOW).expires_at == NOW + 60
    with pytest.raises(InvalidToken):
        verifier.verify(token, now=NOW + 60 + 30)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short"},
        {"ttl": 0},
        {"sub": ""},
        {"tenants": {"t_unknown": ["member"]}},
        {"tenants": {"t_acme": ["owner"]}},
        {"tenants": {"t_acme": []}},
    ],
)
def test_mint_token_refuses_what_no_token_should_say(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {
        "secret": SECRET,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "sub": "u_ada",
        "tenants": {"t_acme": ["member"]},
    }
    with pytest.raises(ValueError):
        mint_token(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("t_acme:member", {"t_acme": ["member"]}),
        ("t_acme:member,admin", {"t_acme": ["member", "admin"]}),
        ("t_acme: member , admin,member", {"t_acme": ["member", "admin"]}),
    ],
)
def test_parse_tenant_roles_reads_one_spec(spec: str, expected: dict[str, list[str]]) -> None:
    assert parse_tenant_roles(spec) == expected


@pytest.mark.parametrize(
    "spec", ["t_acme", "t_acme:", "t_acme:owner", "t_unknown:member", "acme:member", ":member"]
)
def test_parse_tenant_roles_refuses_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_tenant_roles(spec)
