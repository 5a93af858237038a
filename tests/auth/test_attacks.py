"""The attack corpus: every token here must be refused with InvalidToken."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from joserfc.jwk import ECKey, Key, OctKey, RSAKey
from joserfc.jws import JWSRegistry

from chat_core.context import Role
from chat_core.tokens import InvalidToken, TokenSettings, TokenVerifier

from .helpers import (
    AUDIENCE,
    ISSUER,
    NOW,
    SECRET,
    b64,
    b64json,
    claims,
    hand_hs256,
    public_jwks,
    sign,
    sign_hs,
)


def refused(verifier: TokenVerifier, token: str) -> str:
    """Return the reason the verifier refuses token, failing if it accepts it."""
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token, now=NOW)
    assert caught.value.token_sent is True
    assert not token or token not in caught.value.reason
    return caught.value.reason


@pytest.mark.parametrize("claim", ["sub", "exp", "iss", "aud"])
def test_missing_required_claim_is_refused(hs_verifier: TokenVerifier, claim: str) -> None:
    assert refused(hs_verifier, sign_hs(claims(**{claim: None}))) == f"missing {claim}"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example"}, "wrong issuer"),
        ({"aud": "someone-else"}, "wrong audience"),
        ({"aud": ["a", "b"]}, "wrong audience"),
        ({"exp": NOW - 31}, "expired"),
        ({"nbf": NOW + 31}, "not yet valid"),
        ({"iat": NOW + 31}, "bad iat"),
        ({"sub": ""}, "bad sub"),
        ({"sub": 42}, "bad sub"),
        ({"sub": " u_ada"}, "bad sub"),
        ({"exp": "tomorrow"}, "bad exp"),
        ({"exp": 10**400}, "bad time claim"),
    ],
)
def test_bad_claim_is_refused(
    hs_verifier: TokenVerifier, overrides: dict[str, Any], reason: str
) -> None:
    assert refused(hs_verifier, sign_hs(claims(**overrides))) == reason


def test_alg_none_is_refused(hs_verifier: TokenVerifier) -> None:
    unsigned = f"{b64json({'alg': 'none'})}.{b64json(claims())}"
    assert refused(hs_verifier, unsigned + ".") == "malformed token"
    assert refused(hs_verifier, unsigned + ".c2ln") == "algorithm not allowed"


def test_alg_outside_allow_list_is_refused(hs_verifier: TokenVerifier) -> None:
    hs512 = sign(OctKey.import_key(SECRET), "HS512", claims())
    assert refused(hs_verifier, hs512) == "algorithm not allowed"


def test_rs256_is_refused_when_only_hs256_is_configured(
    hs_verifier: TokenVerifier, keys: dict[str, Key]
) -> None:
    assert refused(hs_verifier, sign(keys["RS256"], "RS256", claims())) == "algorithm not allowed"


def test_hs256_signed_with_rsa_public_pem_is_refused(
    both_verifier: TokenVerifier, keys: dict[str, Key]
) -> None:
    rsa = keys["RS256"]
    assert isinstance(rsa, RSAKey)
    pem = rsa.as_pem(private=False)
    jwk_bytes = b64json(rsa.as_dict(private=False)).encode()
    for secret in (pem, jwk_bytes):
        token = hand_hs256({"alg": "HS256", "kid": rsa.kid}, claims(), secret)
        assert refused(both_verifier, token) == "bad signature"


def test_rs256_header_with_hmac_signature_is_refused(
    both_verifier: TokenVerifier, keys: dict[str, Key]
) -> None:
    header = b64json({"alg": "RS256", "kid": keys["RS256"].kid})
    signing_input = f"{header}.{b64json(claims())}"
    mac = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
    assert refused(both_verifier, f"{signing_input}.{b64(mac)}") == "bad signature"


def test_unknown_kid_is_refused(jwks_verifier: TokenVerifier, keys: dict[str, Key]) -> None:
    token = sign(keys["RS256"], "RS256", claims(), kid="rsa-2")
    assert refused(jwks_verifier, token) == "unknown kid"


def test_kid_of_a_key_of_another_type_is_refused(
    jwks_verifier: TokenVerifier, keys: dict[str, Key]
) -> None:
    token = sign(keys["RS256"], "RS256", claims(), kid=keys["ES256"].kid)
    assert refused(jwks_verifier, token) == "unknown kid"


def test_token_without_kid_is_refused_when_several_keys_fit(keys: dict[str, Key]) -> None:
    second = RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})
    jwks = public_jwks({**keys, "RS256-2": second})
    verifier = TokenVerifier(TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=jwks))
    assert refused(verifier, sign(second, "RS256", claims(), kid=None)) == "missing kid"
    assert verifier.verify(sign(second, "RS256", claims()), now=NOW).sub == "u_ada"


def test_token_signed_by_a_stranger_with_a_known_kid_is_refused(
    jwks_verifier: TokenVerifier, keys: dict[str, Key]
) -> None:
    stranger = RSAKey.generate_key(2048)
    token = sign(stranger, "RS256", claims(), kid=keys["RS256"].kid)
    assert refused(jwks_verifier, token) == "bad signature"


@pytest.mark.parametrize("header_name", ["jwk", "jku", "x5u", "x5c"])
def test_key_carrying_header_is_refused(
    jwks_verifier: TokenVerifier, keys: dict[str, Key], header_name: str
) -> None:
    # EC keys keep the embedded JWK under joserfc's 512-byte header limit, so the header
    # rule, not the size rule, is what refuses it.
    attacker = ECKey.generate_key("P-256", parameters={"kid": "ec-1"})
    values: dict[str, Any] = {
        "jwk": attacker.as_dict(private=False),
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/cert.pem",
        "x5c": ["MIIB"],
    }
    header = {"alg": "ES256", "kid": "ec-1", header_name: values[header_name]}
    signing_input = f"{b64json(header)}.{b64json(claims())}".encode()
    es256 = JWSRegistry.algorithms["ES256"]
    forged = f"{signing_input.decode()}.{b64(es256.sign(signing_input, attacker))}"
    assert refused(jwks_verifier, forged) == "bad header"
    # The same header, honestly signed by the real key, is still refused.
    honest = f"{signing_input.decode()}.{b64(es256.sign(signing_input, keys['ES256']))}"
    assert refused(jwks_verifier, honest) == "bad header"


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "HS256", "crit": ["urn:example:must-know"], "urn:example:must-know": 1},
        {"alg": "HS256", "crit": ["urn:example:absent"]},
        {"alg": "HS256", "crit": ["b64"], "b64": False},
        {"alg": "HS256", "crit": "b64"},
    ],
)
def test_crit_header_we_do_not_understand_is_refused(
    hs_verifier: TokenVerifier, header: dict[str, Any]
) -> None:
    assert refused(hs_verifier, hand_hs256(header, claims())) in {
        "unsupported header",
        "bad header",
    }


def test_unknown_non_critical_header_is_ignored(hs_verifier: TokenVerifier) -> None:
    token = hand_hs256({"alg": "HS256", "x-trace": "abc"}, claims())
    assert hs_verifier.verify(token, now=NOW).sub == "u_ada"


def test_tampered_payload_is_refused(hs_verifier: TokenVerifier) -> None:
    header, _payload, signature = sign_hs(claims()).split(".")
    forged = b64json(claims(tenants={"t_acme": ["admin"]}))
    assert refused(hs_verifier, f"{header}.{forged}.{signature}") == "bad signature"


def test_tampered_signature_is_refused(hs_verifier: TokenVerifier) -> None:
    header, payload, signature = sign_hs(claims()).split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert refused(hs_verifier, f"{header}.{payload}.{flipped}") == "bad signature"


@pytest.mark.parametrize("cut", [1, 5, 20, 60])
def test_truncated_token_is_refused(hs_verifier: TokenVerifier, cut: int) -> None:
    refused(hs_verifier, sign_hs(claims())[:-cut])


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        "...",
        "a..c",
        "Zm9v.YmFy.YmF6",
        f"{b64(b'not json')}.{b64json(claims())}.c2ln",
        f"{b64json(['alg'])}.{b64json(claims())}.c2ln",
        f"{b64json('alg')}.{b64json(claims())}.c2ln",
        f"{b64json({'alg': ['HS256']})}.{b64json(claims())}.c2ln",
        f"{b64json({'alg': 'HS256'})}=.{b64json(claims())}.c2ln",
        "eyJhbGciOiJIUzI1NiJ9 .e30.c2ln",
        "\u00e9yJ.e30.c2ln",
        "\ud800.e30.c2ln",
    ],
)
def test_malformed_token_is_refused(hs_verifier: TokenVerifier, garbage: str) -> None:
    refused(hs_verifier, garbage)


def test_json_payload_that_is_not_an_object_is_refused(hs_verifier: TokenVerifier) -> None:
    header = b64json({"alg": "HS256"})
    for payload in ("[1,2]", '"sub"', "null", "{"):
        signing_input = f"{header}.{b64(payload.encode())}"
        mac = hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest()
        assert refused(hs_verifier, f"{signing_input}.{b64(mac)}") == "malformed token"


def test_huge_token_is_refused_before_parsing(hs_verifier: TokenVerifier) -> None:
    assert refused(hs_verifier, "a" * 100_000) == "token too large"
    padded = sign_hs(claims(padding="x" * 9000))
    assert refused(hs_verifier, padded) == "token too large"


@pytest.mark.parametrize(
    "tenants",
    [
        ["t_acme"],
        "t_acme:member",
        {"t_acme": "member"},
        {"t_acme": [1]},
        {"t_acme": [["member"]]},
        {"t_acme": None},
        None,
    ],
)
def test_malformed_tenants_claim_is_refused(hs_verifier: TokenVerifier, tenants: Any) -> None:
    body = claims()
    body["tenants"] = tenants
    assert refused(hs_verifier, sign_hs(body)) == "malformed tenants claim"


def test_invalid_tenant_ids_are_dropped_silently(hs_verifier: TokenVerifier) -> None:
    tenants = {
        "t_unknown": ["admin"],
        "T_ACME": ["admin"],
        "acme": ["admin"],
        " t_acme": ["admin"],
        "t_acme": ["member"],
    }
    auth = hs_verifier.verify(sign_hs(claims(tenants=tenants)), now=NOW)
    assert dict(auth.memberships) == {"t_acme": frozenset({Role.MEMBER})}


def test_empty_role_list_is_not_a_membership(hs_verifier: TokenVerifier) -> None:
    auth = hs_verifier.verify(
        sign_hs(claims(tenants={"t_acme": [], "t_beta": ["member"]})), now=NOW
    )
    assert dict(auth.memberships) == {"t_beta": frozenset({Role.MEMBER})}
