"""Over arbitrary headers and tokens: only authorized requests reach the store, in their tenant."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from events.envelope import RESERVED_TENANT, TENANT_PATTERN, Env
from tests.http.helpers import OTHER_SECRET, USERS, Answer, SyncApp, hand_token, token
from tests.strategies import tenants

RESERVED = RESERVED_TENANT
ALLOWED_ENVS = ("dev", "prod")
REQUEST_ID_TEXT = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID = st.from_regex(REQUEST_ID_TEXT, fullmatch=True)
# Printable ASCII with no padding: what a header can carry unchanged through HTTP.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40)
# Which tenants each kind of valid token makes its subject a member of.
TOKEN_TENANTS: Mapping[str, Mapping[str, Sequence[str]]] = {
    "wrong_tenant": {"t_initech": ["member"]},
    "reserved_in_claim": {RESERVED: ["member", "admin"], "t_globex": ["member"]},
}
BAD_KINDS = ("expired", "wrong_key", "garbage", "parts_missing", "missing", "not_bearer")


def _authorization(kind: str, sub: str) -> str | None:
    if kind == "valid":
        return f"Bearer {token(sub)}"
    if kind == "wrong_tenant":
        return f"Bearer {token(sub, TOKEN_TENANTS[kind])}"
    if kind == "reserved_in_claim":
        return f"Bearer {hand_token(TOKEN_TENANTS[kind], sub=sub)}"
    if kind == "expired":
        return f"Bearer {token(sub, now=time.time() - 7200, ttl=60)}"
    if kind == "wrong_key":
        return f"Bearer {token(sub, secret=OTHER_SECRET)}"
    if kind == "garbage":
        return "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"
    if kind == "parts_missing":
        return f"Bearer {token(sub).rsplit('.', 1)[0]}"
    if kind == "not_bearer":
        return f"Basic {token(sub)}"
    return None


def _memberships(kind: str, sub: str) -> Mapping[str, Sequence[str]]:
    return USERS[sub] if kind == "valid" else TOKEN_TENANTS[kind]


def _no_reserved(text: str) -> bool:
    return RESERVED not in text


def _often(common: st.SearchStrategy[Any], *rare: st.SearchStrategy[Any]) -> Any:
    """Draw from common three times in four, else from one of the rare strategies."""
    return st.integers(0, 3).flatmap(lambda roll: common if roll else st.one_of(*rare))


requests = st.fixed_dictionaries(
    {
        "kind": _often(
            st.sampled_from(("valid", "valid", *TOKEN_TENANTS)), st.sampled_from(BAD_KINDS)
        ),
        "sub": st.sampled_from(sorted(USERS)),
        "tenant": _often(
            st.sampled_from(["t_acme", "t_globex", "t_initech", RESERVED]),
            st.none(),
            tenants.filter(_no_reserved),
            HEADER_TEXT.filter(_no_reserved),
        ),
        "env": _often(st.sampled_from(["dev", "prod", "staging"]), st.none(), HEADER_TEXT),
        "request_id": _often(st.none() | REQUEST_ID, HEADER_TEXT).filter(
            lambda text: text is None or _no_reserved(text)
        ),
    }
)


def _expected_status(drawn: Mapping[str, Any]) -> int:
    kind, tenant, request_id = drawn["kind"], drawn["tenant"], drawn["request_id"]
    if kind in BAD_KINDS:
        return 401
    tenant_ok = (
        tenant is not None and TENANT_PATTERN.fullmatch(tenant) is not None and tenant != RESERVED
    )
    request_id_ok = request_id is None or REQUEST_ID_TEXT.fullmatch(request_id) is not None
    if not tenant_ok or drawn["env"] not in ALLOWED_ENVS or not request_id_ok:
        return 400
    return 201 if tenant in _memberships(kind, drawn["sub"]) else 403


def _headers(drawn: Mapping[str, Any]) -> dict[str, str]:
    sent = {
        "Authorization": _authorization(drawn["kind"], drawn["sub"]),
        "X-Tenant-Id": drawn["tenant"],
        "X-Env": drawn["env"],
        "X-Request-Id": drawn["request_id"],
    }
    return {name: value for name, value in sent.items() if value is not None}


def _check_answer(app: SyncApp, drawn: Mapping[str, Any], answer: Answer, head: int) -> None:
    expected = _expected_status(drawn)
    assert answer.status == expected, answer.body
    new_events = app.events(head)
    if expected != 201:
        assert new_events == []
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        return
    assert len(new_events) == 1
    event = new_events[0].event
    assert event.tenant == drawn["tenant"]
    assert event.env.value == drawn["env"]
    assert event.actor == drawn["sub"]
    assert event.request_id == answer.headers["X-Request-Id"]
    if drawn["request_id"] is not None:
        assert event.request_id == drawn["request_id"]


@pytest.mark.parametrize("store_url", ["memory://", "sqlite"])
def test_only_authorized_requests_reach_the_store_in_their_tenant(
    store_url: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = store_url if store_url == "memory://" else f"sqlite:///{tmp_path / 'p.db'}"
    app = SyncApp(store_url=url, envs=frozenset(Env(env) for env in ALLOWED_ENVS))
    statuses: Counter[int] = Counter()
    try:
        # Enough examples that every outcome (201, 400, 401, 403) shows up in every run.
        @settings(max_examples=max(200, settings.default.max_examples))
        @given(drawn=requests)
        def check(drawn: Mapping[str, Any]) -> None:
            note(repr(drawn))
            head = app.head()
            answer = app.request(
                "POST", "/chat/threads", json={"title": "t"}, headers=_headers(drawn)
            )
            statuses[answer.status] += 1
            _check_answer(app, drawn, answer, head)
            assert RESERVED.encode() not in answer.body
            assert all(RESERVED not in f"{k}: {v}" for k, v in answer.headers.items())

        check()
        assert {201, 400, 401, 403} <= set(statuses), statuses
        for item in app.events():
            assert RESERVED not in repr(item.event)
    finally:
        app.close()
    assert RESERVED not in caplog.text
    for record in caplog.records:
        assert RESERVED not in record.getMessage()
