"""Verify and mint the bearer JWTs that say who a caller is and which tenants it belongs to.

Where each part lives: the keys that may sign and TokenSettings (tokens.sources); key sets
that change without a restart, a JWKS file or URL (tokens.rotating), and the fetching of a
URL or an OpenID configuration (tokens.fetching); the claim rules and ``InvalidToken``
(tokens.claims); the RFC 6750 validator that checks signatures and registered claims
through authlib and joserfc (tokens.bearer); the verifier and its cache (tokens.verifier);
minting (tokens.minting). Their public names are here too.
"""

from chat_core.tokens.claims import InvalidToken, KeysOutdated
from chat_core.tokens.fetching import FetchFailed, discover
from chat_core.tokens.minting import mint_token, parse_tenant_roles
from chat_core.tokens.rotating import FileJwks, UrlJwks, open_jwks
from chat_core.tokens.sources import (
    MIN_SECRET_BYTES,
    SUPPORTED_ALGORITHMS,
    JwksSource,
    TokenSettings,
    load_jwks,
)
from chat_core.tokens.verifier import MAX_TOKEN_BYTES, TokenVerifier

__all__ = [
    "MAX_TOKEN_BYTES",
    "MIN_SECRET_BYTES",
    "SUPPORTED_ALGORITHMS",
    "FetchFailed",
    "FileJwks",
    "InvalidToken",
    "JwksSource",
    "KeysOutdated",
    "TokenSettings",
    "TokenVerifier",
    "UrlJwks",
    "discover",
    "load_jwks",
    "mint_token",
    "open_jwks",
    "parse_tenant_roles",
]
