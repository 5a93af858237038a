"""A thread listing shows exactly what the visibility rule lets the caller see, without
folding the threads it does not show.

The listing walks the thread directory (chat_core.thread_directory) instead of folding
every thread of the tenant and env. The property: for random threads (open and private,
by several creators), participant changes and archiving, each caller's listing, page by
page, equals the listing of old, made here by folding every thread newest first and
asking the one rule (thread_listing.listed, through visibility.may_see). And a member's
listing among many hidden threads, on a core just started from a SQLite file, folds none
of the hidden ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat_core.bootstrap import ChatCore, bootstrap
from chat_core.commands import CreateThread, PostMessage, UpdateThread
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.payloads import ThreadCreated
from chat_core.settings import Settings
from chat_core.state import thread_stream
from chat_core.thread_directory import ThreadDirectory
from chat_core.thread_listing import ThreadFilter, listed
from chat_core.views import ThreadView
from events.envelope import Env
from events.search.terms import parse_query
from events.store.base import EventFilter

TENANT = "t_acme"
CONTEXT = RequestContext(tenant=TENANT, env=Env.DEV, request_id="r-1")
SUBS = ("u_ada", "u_bob", "u_cy")
MEMBERS = {
    sub: AuthContext(sub=sub, memberships={TENANT: frozenset({Role.MEMBER})}) for sub in SUBS
}
AGENT = AuthContext(sub="u_bot", memberships={TENANT: frozenset({Role.MEMBER, Role.AGENT})})
CALLERS = (*MEMBERS.values(), AGENT)
FILTERS = (
    ThreadFilter(),
    ThreadFilter(archived=True),
    ThreadFilter(archived=None),
    ThreadFilter(archived=None, created_by="u_bob"),
)


def _settings(store_url: str) -> Settings:
    return Settings(hs256_secret=b"x" * 32, store_url=store_url)


async def _listing(
    core: ChatCore, auth: AuthContext, wanted: ThreadFilter, limit: int
) -> list[ThreadView]:
    """Return every thread the listing shows, read page by page."""
    shown: list[ThreadView] = []
    after = None
    while True:
        page = await core.queries.list_threads(
            CONTEXT, auth, limit=limit, after=after, wanted=wanted
        )
        shown += [view for view in page.data if isinstance(view, ThreadView)]
        assert len(page.data) == limit or not page.has_more
        if not page.has_more:
            return shown
        after = page.next


async def _folded_listing(core: ChatCore, auth: AuthContext, wanted: ThreadFilter) -> list[str]:
    """Return the ids a listing shows by folding every thread, newest first, as of old."""
    created = EventFilter(tenants=[TENANT], envs=[Env.DEV], types=[ThreadCreated.event_type])
    ids = []
    async for item in core.store.read_all(event_filter=created, descending=True):
        payload = item.event.payload
        assert isinstance(payload, ThreadCreated)
        state = await core.threads.load(thread_stream(CONTEXT, payload.thread_id))
        if listed(state, CONTEXT, auth, wanted):
            ids.append(payload.thread_id)
    return ids


subs = st.sampled_from(SUBS)
creates = st.tuples(st.just("create"), subs, st.sampled_from(["tenant", "private"]))
updates = st.tuples(
    st.just("update"),
    st.integers(0, 30),
    st.one_of(st.none(), st.lists(subs, unique=True, max_size=3).map(tuple)),
    st.one_of(st.none(), st.booleans()),
)
steps = st.lists(st.one_of(creates, updates), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, limit=st.integers(1, 4))
async def test_a_listing_is_the_rule_on_every_folded_thread(
    steps: list[tuple[object, ...]], limit: int
) -> None:
    core = await bootstrap(settings=_settings("memory://"))
    try:
        threads: list[tuple[str, str, str]] = []  # id, creator, visibility
        for number, step in enumerate(steps):
            if step[0] == "create":
                _, creator, visibility = step
                assert isinstance(creator, str) and isinstance(visibility, str)
                view = await core.bus.send(
                    CreateThread(
                        context=CONTEXT,
                        auth=MEMBERS[creator],
                        title=f"thread {number}",
                        visibility=visibility,
                    )
                )
                assert isinstance(view, ThreadView)
                threads.append((view.id, creator, visibility))
                # A listing between the steps catches the directory up part way.
                await _listing(core, MEMBERS[creator], ThreadFilter(), 2)
            elif threads:
                _, which, participants, archived = step
                assert isinstance(which, int)
                thread_id, creator, visibility = threads[which % len(threads)]
                if visibility == "tenant":
                    participants = None  # only a private thread has participants
                if participants is None and archived is None:
                    continue
                await core.bus.send(
                    UpdateThread(
                        context=CONTEXT,
                        auth=MEMBERS[creator],
                        thread_id=thread_id,
                        participants=participants,  # type: ignore[arg-type]
                        archived=archived,  # type: ignore[arg-type]
                    )
                )
        for auth in CALLERS:
            for wanted in FILTERS:
                expected = await _folded_listing(core, auth, wanted)
                shown = await _listing(core, auth, wanted, limit)
                assert [view.id for view in shown] == expected, (auth.sub, wanted)
    finally:
        await core.close()


async def _restarted(
    url: str, threads: int, bobs_every: int
) -> tuple[ChatCore, list[str], list[str]]:
    """Write private threads (Bob's every bobs_every-th, Ada's the rest), each with a message
    holding "quarterly"; return a core just started on the file, Ada's ids and Bob's."""
    core = await bootstrap(settings=_settings(url))
    hidden, own = [], []
    try:
        for number in range(threads):
            sub = "u_bob" if number % bobs_every == 0 else "u_ada"
            view = await core.bus.send(
                CreateThread(
                    context=CONTEXT, auth=MEMBERS[sub], title=f"t{number}", visibility="private"
                )
            )
            assert isinstance(view, ThreadView)
            (own if sub == "u_bob" else hidden).append(view.id)
            await core.bus.send(
                PostMessage(
                    context=CONTEXT,
                    auth=MEMBERS[sub],
                    thread_id=view.id,
                    role="user",
                    content=f"the quarterly numbers, take {number}",
                )
            )
    finally:
        await core.close()
    return await bootstrap(settings=_settings(url)), hidden, own


@pytest.fixture
async def restarted(tmp_path: Path) -> AsyncIterator[tuple[ChatCore, list[str], list[str]]]:
    """A core just started on a file holding 40 of Ada's private threads and 3 of Bob's."""
    core, hidden, own = await _restarted(f"sqlite:///{tmp_path}/chat.db", 43, 15)
    yield core, hidden, own
    await core.close()


async def test_a_listing_folds_none_of_the_threads_it_hides(
    restarted: tuple[ChatCore, list[str], list[str]],
) -> None:
    core, hidden, own = restarted
    shown = await _listing(core, MEMBERS["u_bob"], ThreadFilter(), 20)
    assert [view.id for view in shown] == own[::-1]
    folded = [
        thread_id for thread_id in hidden if thread_stream(CONTEXT, thread_id) in core.threads
    ]
    assert folded == []
    # Ada sees her own forty, newest first, in pages of twenty.
    assert [view.id for view in await _listing(core, MEMBERS["u_ada"], ThreadFilter(), 20)] == (
        hidden[::-1]
    )


async def test_the_directory_lets_the_least_recently_walked_books_go() -> None:
    core = await bootstrap(settings=_settings("memory://"))
    try:
        ids: dict[Env, list[str]] = {Env.DEV: [], Env.PROD: []}
        for env, count in ((Env.DEV, 3), (Env.PROD, 2)):
            context = RequestContext(tenant=TENANT, env=env, request_id="r-2")
            for number in range(count):
                view = await core.bus.send(
                    CreateThread(context=context, auth=MEMBERS["u_ada"], title=f"t{number}")
                )
                assert isinstance(view, ThreadView)
                ids[env].append(view.id)
        directory = ThreadDirectory(core.store, max_threads=4)
        for env in (Env.DEV, Env.PROD, Env.DEV):
            context = RequestContext(tenant=TENANT, env=env, request_id="r-3")
            walked = [facts.thread_id for facts in await directory.walk(context, MEMBERS["u_bob"])]
            assert walked == ids[env][::-1]
            # Past four threads the book walked before goes; the one walked stays.
            assert directory.held == len(ids[env])
    finally:
        await core.close()


async def test_a_search_folds_none_of_the_threads_it_hides(tmp_path: Path) -> None:
    core, hidden, own = await _restarted(f"sqlite:///{tmp_path}/chat.db", 32, 10)
    try:
        page = await core.queries.search(
            CONTEXT,
            MEMBERS["u_bob"],
            terms=parse_query("quarterly"),
            thread_id=None,
            limit=20,
            after=None,
        )
        assert sorted(hit.message.thread_id for hit in page.data) == sorted(own)
        folded = [t for t in hidden if thread_stream(CONTEXT, t) in core.threads]
        assert folded == []
        # Ada's search finds her own 28 (a page of 20, then the rest), folding them.
        page = await core.queries.search(
            CONTEXT,
            MEMBERS["u_ada"],
            terms=parse_query("quarterly"),
            thread_id=None,
            limit=20,
            after=None,
        )
        assert len(page.data) == 20 and page.has_more
    finally:
        await core.close()
