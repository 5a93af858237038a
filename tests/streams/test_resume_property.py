"""Property: whatever the interleaving of posts and disconnect/resume points, a client that
resumes after the last version it saw receives the thread's events in order, once each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from hypothesis import given
from hypothesis import strategies as st

from chat_core.commands import CreateThread, PostMessage
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.hub import StreamClosed, Subscription, follow_stream
from chat_core.state import thread_stream
from chat_core.views import ThreadView
from events.envelope import Env
from events.store.base import RecordedEvent
from tests.http.helpers import build_core

CONTEXT = RequestContext(tenant="t_acme", env=Env.DEV, request_id="req-prop")
AUTH = AuthContext(sub="u_ada", memberships={"t_acme": frozenset({Role.MEMBER})})

# ("post", n): n concurrent posts; ("read", k): read up to k events; ("drop",): reconnect.
steps = st.lists(
    st.one_of(
        st.tuples(st.just("post"), st.integers(1, 4)),
        st.tuples(st.just("read"), st.integers(1, 6)),
        st.tuples(st.just("drop")),
    ),
    max_size=25,
)


async def _run(plan: list[tuple[str, ...]], capacity: int) -> None:
    core = await build_core()
    # The core's own hub, which the core's follower of the log feeds.
    hub = core.hub
    thread = await core.bus.send(CreateThread(context=CONTEXT, auth=AUTH))
    assert isinstance(thread, ThreadView)
    stream = thread_stream(CONTEXT, thread.id)
    received: list[int] = []

    def connect() -> tuple[Subscription, AsyncGenerator[RecordedEvent | None, None]]:
        subscription = hub.open(stream, capacity)
        last = received[-1] if received else 0
        return subscription, follow_stream(core.store, subscription, after_version=last, idle=0.05)

    subscription, events = connect()

    async def post(count: int) -> None:
        await asyncio.gather(
            *(
                core.bus.send(
                    PostMessage(
                        context=CONTEXT, auth=AUTH, thread_id=thread.id, role="user", content="x"
                    )
                )
                for _ in range(count)
            )
        )

    async def read(count: int) -> bool:
        for _ in range(count):
            try:
                item = await anext(events)
            except StreamClosed:
                return False
            if item is None:
                return True
            received.append(item.event.version)
        return True

    for step in plan:
        if step[0] == "post":
            await post(int(step[1]))
        elif step[0] == "read":
            alive = await read(int(step[1]))
            if not alive:
                hub.release(subscription)
                subscription, events = connect()
        else:
            await events.aclose()
            hub.release(subscription)
            subscription, events = connect()
    total = await core.store.stream_version(stream)
    while len(received) < total:
        if not await read(total - len(received)):
            hub.release(subscription)
            subscription, events = connect()
    assert received == list(range(1, total + 1))
    await core.close()


@given(plan=steps, capacity=st.integers(1, 8))
def test_resumed_streams_deliver_every_event_once_in_order(
    plan: list[tuple[str, ...]], capacity: int
) -> None:
    asyncio.run(_run(plan, capacity))
