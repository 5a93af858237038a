"""PATCH a private thread with any JSON body: the contract's bounds decide, nothing else does.

A plain oracle says whether a body is one the contract takes. Its creator's PATCH of such a
body is a 200 that shows the change; any other body is a 422 problem that appends nothing
and leaves the thread as it was. An outsider's PATCH, of any body, answers word for word
as the same PATCH of a thread that does not exist, and appends nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.http.helpers import SyncApp, auth_headers

ADA = auth_headers("u_ada")  # the creator
CYD = auth_headers("u_cyd")  # an admin of t_acme, outside the thread
UNKNOWN = "th_nosuchthreadhere0000"
FIELDS = ("title", "metadata", "archived", "participants")

subjects = st.one_of(
    st.sampled_from(["u_bob", "u_dan", "svc", " u_bob", "u_bob ", "", "u_\u200bbob", "u\x00"]),
    st.text(max_size=8),
    st.just("u" * 256),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)
values: dict[str, st.SearchStrategy[Any]] = {
    "title": st.one_of(st.text(max_size=6), st.just("x" * 201), st.just(""), scalars),
    "metadata": st.one_of(
        st.dictionaries(st.text(max_size=3), st.text(max_size=3) | scalars, max_size=3),
        st.dictionaries(st.sampled_from(["k"]), st.just("v" * 1025), max_size=1),
        st.lists(st.text(max_size=2), max_size=2),
        scalars,
    ),
    "archived": st.one_of(st.booleans(), scalars),
    "participants": st.one_of(
        st.lists(subjects, max_size=4),
        st.lists(st.just("u_x"), min_size=101, max_size=101),
        st.lists(scalars, min_size=1, max_size=2),
        st.text(max_size=5),
        st.dictionaries(st.text(max_size=3), scalars, max_size=2),
        scalars,
    ),
}
anything = st.fixed_dictionaries(
    {},
    optional={
        **values,
        "visibility": st.sampled_from(["tenant", "private"]),
        "owner": scalars,
    },
)
well_formed = st.fixed_dictionaries(
    {},
    optional={
        "title": st.text(min_size=1, max_size=12),
        "metadata": st.dictionaries(
            st.text(min_size=1, max_size=4), st.text(max_size=4), max_size=3
        ),
        "archived": st.booleans(),
        "participants": st.lists(st.sampled_from(["u_ada", "u_bob", "u_dan", "svc"]), max_size=4),
    },
).filter(bool)
# A body the contract takes, but for one field.
spoiled = st.builds(
    lambda body, name, value: {**body, name: value},
    well_formed,
    st.sampled_from([*FIELDS, "visibility", "forked_from"]),
    scalars,
)
bodies = st.one_of(well_formed, spoiled, anything)


def _subject(value: object) -> bool:
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or value != value.strip():
        return False
    unfit = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    return not any(unicodedata.category(char) in unfit for char in value)


def _text_map(value: object) -> bool:
    if not isinstance(value, dict) or len(value) > 16:
        return False
    return all(
        isinstance(key, str) and isinstance(item, str) and 1 <= len(key) <= 64 and len(item) <= 1024
        for key, item in value.items()
    )


def taken(body: dict[str, Any]) -> bool:
    """Tell whether the contract takes this PATCH body (of a private thread, by its creator)."""
    if not body or set(body) - set(FIELDS):
        return False
    checks = {
        "title": lambda v: isinstance(v, str) and 1 <= len(v) <= 200,
        "metadata": _text_map,
        "archived": lambda v: isinstance(v, bool),
        "participants": lambda v: (
            isinstance(v, list) and len(v) <= 100 and all(_subject(sub) for sub in v)
        ),
    }
    return all(checks[name](value) for name, value in body.items())


@pytest.fixture(scope="module")
def app() -> Iterator[SyncApp]:
    made = SyncApp()
    yield made
    made.close()


def _thread(app: SyncApp) -> dict[str, Any]:
    answer = app.request(
        "POST", "/chat/threads", json={"visibility": "private", "title": "t"}, headers=ADA
    )
    assert answer.status == 201
    thread: dict[str, Any] = answer.json()
    return thread


def _without_request_id(answer: Any) -> tuple[int, dict[str, Any]]:
    assert answer.headers["Content-Type"].startswith("application/problem+json"), answer.body
    problem = answer.json()
    return answer.status, {name: value for name, value in problem.items() if name != "request_id"}


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=bodies)
def test_the_contract_alone_decides_a_patch_body(app: SyncApp, body: dict[str, Any]) -> None:
    event(f"taken: {taken(body)}")
    thread = _thread(app)
    path = f"/chat/threads/{thread['id']}"
    head = app.head()
    hidden = app.request("PATCH", path, json=body, headers=CYD)
    unknown = app.request("PATCH", f"/chat/threads/{UNKNOWN}", json=body, headers=CYD)
    assert _without_request_id(hidden) == _without_request_id(unknown)
    assert hidden.status == (404 if taken(body) else 422)
    assert app.head() == head

    answer = app.request("PATCH", path, json=body, headers=ADA)
    shown = app.request("GET", path, headers=ADA).json()
    if not taken(body):
        assert answer.status == 422, (body, answer.body)
        assert _without_request_id(answer)[1]["errors"]
        assert app.head() == head
        assert shown == thread
        return
    assert answer.status == 200, (body, answer.body)
    expected = {**thread, **body}
    if "participants" in body:
        expected["participants"] = list(dict.fromkeys(body["participants"]))
    changed = {name for name in FIELDS if expected[name] != thread[name]}
    assert app.head() == head + bool(changed)
    for name in FIELDS:
        assert shown[name] == expected[name], (name, body, shown)
    assert answer.json() == shown
