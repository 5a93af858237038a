"""Hypothesis strategies for hostile bearer tokens."""

from __future__ import annotations

import json

from hypothesis import strategies as st

from .helpers import b64, b64json, claims, sign_hs

__all__ = ["hostile_tokens"]

_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

headers = st.fixed_dictionaries(
    {},
    optional={
        "alg": st.sampled_from(["HS256", "HS512", "RS256", "none", "None", ""]) | json_values,
        "kid": json_values,
        "crit": json_values,
        "b64": json_values,
        "jwk": json_values,
        "typ": json_values,
    },
)


@st.composite
def _shaped(draw: st.DrawFn) -> str:
    header = draw(headers | json_values)
    body = draw(st.dictionaries(st.sampled_from(sorted(claims())), json_values) | json_values)
    signature = draw(st.text(_B64URL, max_size=90))
    return f"{b64json(header)}.{b64(json.dumps(body).encode())}.{signature}"


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    token = sign_hs(claims())
    at = draw(st.integers(0, len(token) - 1))
    replacement = draw(st.text(_B64URL + ".=+/ ", min_size=0, max_size=3))
    return token[:at] + replacement + token[at + 1 :]


_tenant_maps = st.dictionaries(
    st.sampled_from(["t_acme", "t_unknown", "T_X", ""]) | st.text(max_size=8),
    st.lists(st.sampled_from(["member", "admin", "owner", ""]) | json_values, max_size=3),
    max_size=3,
)


@st.composite
def _signed(draw: st.DrawFn) -> str:
    # Honestly signed, so hostile claim values get past the signature to the claim rules.
    names = st.sampled_from([*sorted(claims()), "nbf", "tenants"])
    overrides = draw(st.dictionaries(names, json_values | _tenant_maps, max_size=4))
    return sign_hs({**claims(), **overrides})


hostile_tokens = st.one_of(
    st.text(),
    st.binary().map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    st.binary().map(lambda raw: raw.decode("latin-1")),
    st.lists(st.text(_B64URL, max_size=40), min_size=1, max_size=6).map(".".join),
    _shaped(),
    _mutated(),
    _signed(),
)
