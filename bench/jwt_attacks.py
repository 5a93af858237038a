"""Time each attack token of the corpus against a valid token: no refusal may cost more.

Run: `python -m bench.jwt_attacks [--quick]`. Prints, per attack, the mean time to refuse it
and its ratio to the fastest valid token verified uncached (HS256); exits 1 if any
ratio is over the limit. The cached path is printed too, for scale.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from joserfc.jwk import RSAKey

from chat_core.tokens import InvalidToken, TokenSettings, TokenVerifier
from tests.auth.corpus import attack_tokens, valid_tokens
from tests.auth.helpers import AUDIENCE, ISSUER, NOW, SECRET, private_keys, public_jwks

__all__ = ["main", "run"]

# A refusal may cost at most this many times a valid token's verification (noise margin).
LIMIT = 1.5


def _mean_seconds(action: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            action()
        best = min(best, (time.perf_counter() - started) / repeat)
    return best


def _refuse(verifier: TokenVerifier, token: str) -> Callable[[], object]:
    def attempt() -> object:
        try:
            verifier.verify(token, now=NOW)
        except InvalidToken as refused:
            return refused
        raise AssertionError("an attack token was accepted")

    return attempt


def run(*, quick: bool = False) -> dict[str, float]:
    """Measure every attack against the fastest valid token, uncached; return the ratios."""
    repeat = 50 if quick else 500
    keys = private_keys()
    settings = TokenSettings(
        issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET, jwks=public_jwks(keys), cache_size=0
    )
    uncached = TokenVerifier(settings)
    cached = TokenVerifier(TokenSettings(issuer=ISSUER, audience=AUDIENCE, hs256_secret=SECRET))
    removed = RSAKey.generate_key(2048, parameters={"kid": "rsa-retired"})
    valid = valid_tokens(secret=SECRET, issuer=ISSUER, audience=AUDIENCE, keys=keys, now=NOW)
    baselines = {
        alg: _mean_seconds(lambda token=token: uncached.verify(token, now=NOW), repeat)
        for alg, token in valid.items()
    }
    hs256 = valid["HS256"]
    cached.verify(hs256, now=NOW)
    cached_seconds = _mean_seconds(lambda: cached.verify(hs256, now=NOW), repeat)
    for alg, seconds in baselines.items():
        print(f"valid {alg:<8} uncached {seconds * 1e6:9.1f} us")
    print(f"valid HS256    cached   {cached_seconds * 1e6:9.1f} us")
    reference = min(baselines.values())
    ratios: dict[str, float] = {}
    attacks = attack_tokens(
        secret=SECRET, issuer=ISSUER, audience=AUDIENCE, keys=keys, removed=removed, now=NOW
    )
    for name, token in sorted(attacks.items()):
        seconds = _mean_seconds(_refuse(uncached, token), repeat)
        ratios[name] = seconds / reference
        print(f"{name:<40} {seconds * 1e6:9.1f} us  ratio {ratios[name]:.2f}")
    return ratios


def main() -> None:
    """Print the table; exit 1 if any refusal is slower than the limit allows."""
    parser = argparse.ArgumentParser(prog="python -m bench.jwt_attacks")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    ratios = run(quick=parser.parse_args().quick)
    worst = max(ratios, key=ratios.__getitem__)
    print(f"worst: {worst} at {ratios[worst]:.2f} x the fastest valid token (limit {LIMIT})")
    sys.exit(1 if ratios[worst] > LIMIT else 0)


if __name__ == "__main__":
    main()
