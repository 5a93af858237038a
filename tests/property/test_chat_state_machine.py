"""Users in several tenants and envs drive the real app; a plain model says what they should see."""

from __future__ import annotations

from typing import Any

from attrs import define, field, frozen
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    rule,
)

from chat_core.payloads import MessagePosted
from tests.http.helpers import USERS, SyncApp, auth_headers

TENANTS = ("t_acme", "t_globex", "t_initech")
ENVS = ("dev", "prod")
KEYS = st.one_of(st.none(), st.sampled_from(["k1", "k2"]))
CONTENT = st.sampled_from(["hi", "hello", "again", "x" * 40])
# Where a request is sent relative to a thread's own partition: mostly its home.
PLACES = st.sampled_from(["home", "home", "home", "other_tenant", "other_env"])
# Who sends it: mostly a member of the thread's tenant, so that most posts land.
CALLERS = st.one_of(
    st.integers(0, 3).map(lambda index: ("insider", index)),
    st.sampled_from(sorted(USERS)).map(lambda sub: ("anyone", sub)),
)


@frozen
class ThreadRef:
    """A thread the model knows, with the partition it lives in."""

    tenant: str
    env: str
    thread_id: str


@frozen
class KeyedPost:
    """An idempotent post that succeeded, kept to be retried."""

    sub: str
    thread: ThreadRef
    key: str
    content: str
    body: bytes


@define
class Model:
    """What the app should hold: messages per thread and recorded idempotency keys."""

    messages: dict[ThreadRef, list[tuple[str, str, str]]] = field(factory=dict)
    keys: dict[tuple[str, str, str, str], tuple[str, str, int, bytes]] = field(factory=dict)
    events: int = 0


def _member(sub: str, tenant: str) -> bool:
    return tenant in USERS[sub]


def _caller(thread: ThreadRef, drawn: tuple[str, Any]) -> str:
    kind, value = drawn
    if kind == "anyone":
        return str(value)
    members = sorted(sub for sub in USERS if thread.tenant in USERS[sub])
    return members[int(value) % len(members)]


def _place(thread: ThreadRef, place: str) -> tuple[str, str]:
    if place == "other_tenant":
        return TENANTS[(TENANTS.index(thread.tenant) + 1) % len(TENANTS)], thread.env
    if place == "other_env":
        return thread.tenant, ENVS[(ENVS.index(thread.env) + 1) % len(ENVS)]
    return thread.tenant, thread.env


class ChatMachine(RuleBasedStateMachine):
    """Create threads, post (with retried idempotency keys) and read, across partitions."""

    threads = Bundle("threads")
    keyed_posts = Bundle("keyed_posts")

    def __init__(self) -> None:
        super().__init__()
        self.app = SyncApp()
        self.model = Model()

    def teardown(self) -> None:
        self.app.close()

    @rule(
        target=threads,
        sub=st.sampled_from(sorted(USERS)),
        tenant=st.sampled_from(TENANTS),
        env=st.sampled_from(ENVS),
    )
    def create_thread(self, sub: str, tenant: str, env: str) -> Any:
        answer = self.app.request(
            "POST", "/chat/threads", json={"title": "t"}, headers=auth_headers(sub, tenant, env)
        )
        if not _member(sub, tenant):
            assert answer.status == 403
            return multiple()
        assert answer.status == 201, answer.body
        thread = ThreadRef(tenant, env, answer.json()["id"])
        self.model.messages[thread] = []
        self.model.events += 1
        return thread

    @rule(
        target=keyed_posts,
        caller=CALLERS,
        thread=threads,
        place=PLACES,
        content=CONTENT,
        key=KEYS,
    )
    def post_message(
        self, caller: tuple[str, Any], thread: ThreadRef, place: str, content: str, key: str | None
    ) -> Any:
        sub = _caller(thread, caller)
        tenant, env = _place(thread, place)
        headers = auth_headers(sub, tenant, env)
        if key is not None:
            headers["Idempotency-Key"] = key
        path = f"/chat/threads/{thread.thread_id}/messages"
        answer = self.app.request("POST", path, json={"content": content}, headers=headers)
        recorded = None if key is None else self.model.keys.get((tenant, env, sub, key))
        if not _member(sub, tenant):
            assert answer.status == 403
        elif recorded is not None:
            self._check_replay_or_mismatch(answer, recorded, path, content)
        elif (tenant, env) != (thread.tenant, thread.env):
            assert answer.status == 404, answer.body
        else:
            return self._check_posted(answer, sub, thread, content, key)
        return multiple()

    def _check_replay_or_mismatch(
        self, answer: Any, recorded: tuple[str, str, int, bytes], path: str, content: str
    ) -> None:
        first_path, first_content, first_status, first_body = recorded
        if (first_path, first_content) == (path, content):
            assert answer.status == first_status
            assert answer.headers["Idempotent-Replayed"] == "true"
            assert answer.body == first_body
        else:
            assert answer.status == 422, answer.body

    def _check_posted(
        self, answer: Any, sub: str, thread: ThreadRef, content: str, key: str | None
    ) -> Any:
        assert answer.status == 201, answer.body
        assert "Idempotent-Replayed" not in answer.headers
        message = answer.json()
        history = self.model.messages[thread]
        assert message["seq"] == len(history) + 1
        assert (message["author"], message["content"]) == (sub, content)
        history.append((message["id"], sub, content))
        self.model.events += 1
        if key is None:
            return multiple()
        path = f"/chat/threads/{thread.thread_id}/messages"
        self.model.keys[(thread.tenant, thread.env, sub, key)] = (path, content, 201, answer.body)
        return KeyedPost(sub, thread, key, content, answer.body)

    @rule(post=consumes(keyed_posts))
    def retry_post(self, post: KeyedPost) -> None:
        headers = auth_headers(post.sub, post.thread.tenant, post.thread.env)
        headers["Idempotency-Key"] = post.key
        answer = self.app.request(
            "POST",
            f"/chat/threads/{post.thread.thread_id}/messages",
            json={"content": post.content},
            headers=headers,
        )
        assert answer.status == 201
        assert answer.headers["Idempotent-Replayed"] == "true"
        assert answer.body == post.body

    @rule(caller=CALLERS, thread=threads, place=PLACES)
    def read_thread(self, caller: tuple[str, Any], thread: ThreadRef, place: str) -> None:
        sub = _caller(thread, caller)
        tenant, env = _place(thread, place)
        answer = self.app.request(
            "GET", f"/chat/threads/{thread.thread_id}", headers=auth_headers(sub, tenant, env)
        )
        if not _member(sub, tenant):
            assert answer.status == 403
        elif (tenant, env) != (thread.tenant, thread.env):
            assert answer.status == 404
        else:
            assert answer.status == 200
            count = len(self.model.messages[thread])
            assert (answer.json()["message_count"], answer.json()["last_seq"]) == (count, count)

    @rule(
        caller=CALLERS,
        thread=threads,
        place=PLACES,
        limit=st.integers(1, 4),
        order=st.sampled_from(["asc", "desc"]),
    )
    def read_messages(
        self, caller: tuple[str, Any], thread: ThreadRef, place: str, limit: int, order: str
    ) -> None:
        sub = _caller(thread, caller)
        tenant, env = _place(thread, place)
        headers = auth_headers(sub, tenant, env)
        path = f"/chat/threads/{thread.thread_id}/messages"
        query: dict[str, str] = {"limit": str(limit), "order": order}
        seen: list[dict[str, Any]] = []
        while True:
            answer = self.app.request("GET", path, headers=headers, params=query)
            if not _member(sub, tenant):
                assert answer.status == 403
                return
            if (tenant, env) != (thread.tenant, thread.env):
                assert answer.status == 404
                assert thread.thread_id.encode() not in answer.body
                return
            assert answer.status == 200
            page = answer.json()
            seen.extend(page["data"])
            if page["next"] is None:
                break
            query["after"] = page["next"]
        expected = [
            (m_id, author, content) for m_id, author, content in self.model.messages[thread]
        ]
        if order == "desc":
            expected.reverse()
        assert [(m["id"], m["author"], m["content"]) for m in seen] == expected
        seqs = [m["seq"] for m in seen]
        assert sorted(seqs) == list(range(1, len(expected) + 1))

    @rule(
        sub=st.sampled_from(sorted(USERS)),
        tenant=st.sampled_from(TENANTS),
        env=st.sampled_from(ENVS),
    )
    def list_threads(self, sub: str, tenant: str, env: str) -> None:
        answer = self.app.request(
            "GET", "/chat/threads?limit=100", headers=auth_headers(sub, tenant, env)
        )
        if not _member(sub, tenant):
            assert answer.status == 403
            return
        listed = [thread["id"] for thread in answer.json()["data"]]
        mine = [
            ref.thread_id for ref in self.model.messages if (ref.tenant, ref.env) == (tenant, env)
        ]
        assert listed == mine[::-1][:100]

    @invariant()
    def log_holds_exactly_the_model_events(self) -> None:
        assert self.app.head() == self.model.events

    @invariant()
    def every_thread_stream_is_gap_free(self) -> None:
        for thread, history in self.model.messages.items():
            stream = f"chat/{thread.tenant}/{thread.env}/{thread.thread_id}"
            recorded = self.app.run(self.app.store.read_stream(stream))
            assert [item.event.version for item in recorded] == list(range(1, len(recorded) + 1))
            seqs = [
                item.event.payload.seq
                for item in recorded
                if isinstance(item.event.payload, MessagePosted)
            ]
            assert seqs == list(range(1, len(history) + 1))
            assert {(item.event.tenant, item.event.env.value) for item in recorded} == {
                (thread.tenant, thread.env)
            }


ChatMachine.TestCase.settings = settings(
    settings.default,
    max_examples=settings.default.max_examples,
    stateful_step_count=40,
)
TestChatMachine = ChatMachine.TestCase
