"""A JWKS at a URL, fetched from a real HTTP server on 127.0.0.1 whose keys rotate.

The server is real; the clock the source reads is the test's, so "30 s later" and "the
cache's time is up" are steps the test takes, not waits.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from joserfc.jwk import ECKey, Key, OctKey, RSAKey

from chat_core.settings import SettingsError, load_settings
from chat_core.tokens import (
    FetchFailed,
    InvalidToken,
    KeysOutdated,
    TokenSettings,
    TokenVerifier,
    UrlJwks,
)
from chat_core.tokens.fetching import cache_seconds, check_url
from chat_core.tokens.rotating import configured_jwks

from .helpers import AUDIENCE, ISSUER, NOW, claims, sign
from .jwks_server import jwks_server

KEY_A = RSAKey.generate_key(2048, parameters={"kid": "rsa-a"})
KEY_B = ECKey.generate_key("P-256", parameters={"kid": "ec-b"})
STRANGER = RSAKey.generate_key(2048, parameters={"kid": "rsa-x"})


class Clock:
    """A monotonic clock that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _token(key: Key, sub: str = "u_ada", kid: str | None = None) -> str:
    alg = {"RSA": "RS256", "EC": "ES256"}[key.key_type]
    return sign(key, alg, claims(sub=sub), **({"kid": kid} if kid else {}))


def _verifier(source: UrlJwks) -> TokenVerifier:
    return TokenVerifier(TokenSettings(issuer=ISSUER, audience=AUDIENCE, jwks=source))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_the_jwks_is_fetched_at_start_and_verifies_its_tokens() -> None:
    with jwks_server([KEY_A]) as idp:
        source = UrlJwks(idp.jwks_url)
        assert idp.requests == 1
        assert _verifier(source).verify(_token(KEY_A), now=NOW).sub == "u_ada"


@pytest.mark.parametrize(
    ("cache_control", "seconds"),
    [
        ("max-age=120", 120.0),
        ("public, max-age=5", 60.0),
        ("max-age=999999", 86400.0),
        ("no-cache", 60.0),
        ("no-store, max-age=600", 60.0),
        (None, 300.0),
    ],
)
def test_the_keys_are_kept_as_cache_control_says_between_60_s_and_24_h(
    cache_control: str | None, seconds: float
) -> None:
    clock = Clock()
    with jwks_server([KEY_A], cache_control=cache_control) as idp:
        source = UrlJwks(idp.jwks_url, clock=clock)
        assert source.seconds_to_refresh() == seconds
        clock.now += seconds - 1
        assert source.seconds_to_refresh() == 1
        clock.now += 5
        assert source.seconds_to_refresh() == 0
    assert cache_seconds(cache_control) == seconds


async def test_a_token_of_a_new_key_is_accepted_after_one_fetch() -> None:
    with jwks_server([KEY_A]) as idp:
        verifier = _verifier(UrlJwks(idp.jwks_url, clock=Clock()))
        idp.rotate([KEY_A, KEY_B])
        token = _token(KEY_B)
        with pytest.raises(KeysOutdated) as outdated:
            verifier.verify(token, now=NOW)
        await outdated.value.refetch()
        assert verifier.verify(token, now=NOW).sub == "u_ada"
        assert verifier.verify(_token(KEY_A, "u_bob"), now=NOW).sub == "u_bob"
        assert idp.requests == 2


async def test_an_unknown_kid_fetches_at_most_once_per_30_s() -> None:
    clock = Clock()
    with jwks_server([KEY_A]) as idp:
        verifier = _verifier(UrlJwks(idp.jwks_url, clock=clock))
        unknown = _token(STRANGER)
        with pytest.raises(KeysOutdated) as outdated:
            verifier.verify(unknown, now=NOW)
        await outdated.value.refetch()
        assert idp.requests == 2
        for token in (unknown, _token(STRANGER, kid="rsa-y"), _token(STRANGER, kid="rsa-z")):
            with pytest.raises(InvalidToken, match="unknown kid") as refused:
                verifier.verify(token, now=NOW)
            assert not isinstance(refused.value, KeysOutdated)
        clock.now += 29
        with pytest.raises(InvalidToken) as still:
            verifier.verify(unknown, now=NOW)
        assert not isinstance(still.value, KeysOutdated)
        assert idp.requests == 2
        clock.now += 2
        with pytest.raises(KeysOutdated) as again:
            verifier.verify(unknown, now=NOW)
        await again.value.refetch()
        assert idp.requests == 3


async def test_unknown_kids_at_the_same_moment_share_one_fetch() -> None:
    with jwks_server([KEY_A]) as idp:
        verifier = _verifier(UrlJwks(idp.jwks_url, clock=Clock()))
        idp.rotate([KEY_B])
        tokens = [_token(KEY_B, sub) for sub in ("u_ada", "u_bob", "u_cyd")]
        waiting = []
        for token in tokens:
            with pytest.raises(KeysOutdated) as outdated:
                verifier.verify(token, now=NOW)
            waiting.append(outdated.value.refetch())
        await asyncio.gather(*waiting)
        assert idp.requests == 2
        assert [verifier.verify(token, now=NOW).sub for token in tokens] == [
            "u_ada",
            "u_bob",
            "u_cyd",
        ]


async def test_an_outage_keeps_the_last_good_keys_serving() -> None:
    clock = Clock()
    with jwks_server([KEY_A], cache_control="max-age=60") as idp:
        source = UrlJwks(idp.jwks_url, clock=clock)
        verifier = _verifier(source)
        idp.down = True
        clock.now += 61
        assert await source.refresh() is False
        assert source.failures == 1
        assert source.seconds_to_refresh() == 60
        assert verifier.verify(_token(KEY_A, "u_bob"), now=NOW).sub == "u_bob"
        with pytest.raises(KeysOutdated) as outdated:
            verifier.verify(_token(KEY_B), now=NOW)
        await outdated.value.refetch()
        assert source.failures == 2
        assert verifier.verify(_token(KEY_A, "u_cyd"), now=NOW).sub == "u_cyd"
        # Back up with other keys: the next fetch takes them.
        idp.down = False
        idp.rotate([KEY_B])
        await verifier.reload_keys()
        assert verifier.verify(_token(KEY_B), now=NOW).sub == "u_ada"
        # The JWKS now holds no RSA key at all.
        with pytest.raises(InvalidToken, match="no key for algorithm"):
            verifier.verify(_token(KEY_A, "u_eve"), now=NOW)


async def test_the_keys_are_fetched_again_when_their_time_is_up() -> None:
    clock = Clock()
    with jwks_server([KEY_A], cache_control="max-age=120") as idp:
        verifier = _verifier(UrlJwks(idp.jwks_url, clock=clock))
        idp.rotate([KEY_B])
        clock.now += 121
        refreshing = asyncio.create_task(verifier.keep_keys_fresh())
        try:
            for _ in range(1000):
                if idp.requests == 2 and verifier.key_source is not None:
                    try:
                        verifier.verify(_token(KEY_B), now=NOW)
                        break
                    except InvalidToken:
                        pass
                await asyncio.sleep(0.01)
            assert verifier.verify(_token(KEY_B), now=NOW).sub == "u_ada"
            assert idp.requests == 2
        finally:
            refreshing.cancel()


async def test_a_changed_key_set_empties_the_verified_token_cache() -> None:
    with jwks_server([KEY_A]) as idp:
        verifier = _verifier(UrlJwks(idp.jwks_url, clock=Clock()))
        token = _token(KEY_A)
        assert verifier.verify(token, now=NOW).sub == "u_ada"
        idp.rotate([KEY_B])
        await verifier.reload_keys()
        with pytest.raises(InvalidToken, match="no key for algorithm"):
            verifier.verify(token, now=NOW)


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example/jwks.json",
        "http://10.0.0.1/jwks.json",
        "ftp://127.0.0.1/jwks.json",
        "file:///etc/jwks.json",
        "https:///jwks.json",
    ],
)
def test_only_https_or_loopback_http_is_fetched(url: str) -> None:
    with pytest.raises(ValueError, match="https://"):
        UrlJwks(url)


@pytest.mark.parametrize(
    "url",
    ["https://idp.example/jwks", "http://127.0.0.1:1/j", "http://localhost/j", "http://[::1]/j"],
)
def test_https_and_loopback_http_urls_pass_the_check(url: str) -> None:
    assert check_url(url, "the URL") == url


def test_a_start_up_fetch_that_fails_is_one_line_that_says_why() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/jwks.json"
    with pytest.raises(FetchFailed, match=f"cannot fetch {url}") as refused:
        UrlJwks(url)
    assert "\n" not in str(refused.value)
    with jwks_server([KEY_A]) as idp:
        idp.down = True
        with pytest.raises(FetchFailed, match="HTTP 503"):
            UrlJwks(idp.jwks_url)
        idp.down = False
        idp.rotate([OctKey.generate_key(256, parameters={"kid": "oct"})])
        with pytest.raises(ValueError, match="oct"):
            UrlJwks(idp.jwks_url)


def test_discovery_names_the_jwks_and_the_issuer_tokens_carry() -> None:
    with jwks_server([KEY_A]) as idp:
        asked = idp.base_url + "/"
        issuer, jwks = configured_jwks(jwks=None, oidc_issuer=asked, issuer=asked)
        assert issuer == idp.base_url
        assert isinstance(jwks, UrlJwks)
        assert jwks.url == idp.jwks_url
        kept, _ = configured_jwks(jwks=None, oidc_issuer=asked, issuer="https://other.example")
        assert kept == "https://other.example"
        idp.issuer_override = "https://evil.example"
        with pytest.raises(FetchFailed, match="names the issuer"):
            configured_jwks(jwks=None, oidc_issuer=asked, issuer=asked)
        with pytest.raises(ValueError, match="set one"):
            configured_jwks(jwks=idp.jwks_url, oidc_issuer=asked, issuer=asked)


def test_oidc_issuer_sets_the_issuer_and_satisfies_prod_mode() -> None:
    environ = {
        "CHAT_CORE_MODE": "prod",
        "CHAT_CORE_OIDC_ISSUER": "https://idp.example/realms/chat",
        "CHAT_CORE_AUDIENCE": "chat-core",
        "CHAT_CORE_MASTER_KEY": "bWFzdGVyLWtleS1yZWxpYWJpbGl0eS10ZXN0cy0zMmI=",
    }
    settings = load_settings(environ)
    assert settings.issuer == "https://idp.example/realms/chat"
    assert settings.oidc_issuer == "https://idp.example/realms/chat"
    explicit = load_settings({**environ, "CHAT_CORE_ISSUER": "https://other.example"})
    assert explicit.issuer == "https://other.example"
    del environ["CHAT_CORE_OIDC_ISSUER"]
    with pytest.raises(SettingsError, match="CHAT_CORE_OIDC_ISSUER"):
        load_settings(environ)
