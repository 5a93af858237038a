"""Random conversation trees driven through the real app, against a plain model of the tree.

Posts continue from the thread's head or name a parent; edits and regenerations are
siblings (a user or assistant message posted under the parent of one of its role);
generations start, grow by chunks and end (completed or cancelled); messages are
redacted and rated; paths are forked into new threads. After each step the app must
agree with the model: every path route, followed page by page, is the model's path;
children are the model's, by seq; a fork holds copies of its source path (new ids, the
same words, roles, authors and statuses, `forked_from`, in the same tenant and env);
the log holds exactly the events the model counts, each thread's seqs and versions
without gaps and in its own tenant and env. Ids of one thread or partition named in
another's requests are refused (422 for a body field, 404 for a URL) and append nothing.

On a memory store, on a SQLite file, and on a SQLite file with a thread's kept window
shrunk to a few messages, so that paths, children and forks are read back from disk.
"""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from typing import Any

from attrs import define, field
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from chat_core import caches, fold, state
from chat_core.payloads import MessagePosted
from tests.http.helpers import SyncApp, auth_headers, token

TENANTS = ("t_acme", "t_globex")
ENVS = ("dev", "prod")
MEMBERS = ("u_m1", "u_m2")
AGENT = "u_bot"
ADMIN = "u_boss"
WORDS = st.sampled_from(["hi", "why?", "because", "again", "é" * 3, "x" * 30])
PICK = st.integers(0, 10_000)
LIMITS = st.integers(1, 4)


@cache
def _bearer(sub: str) -> str:
    role = {AGENT: "agent", ADMIN: "admin"}.get(sub, "member")
    return token(sub, {tenant: [role] for tenant in TENANTS})


def _headers(sub: str, tenant: str, env: str) -> dict[str, str]:
    return auth_headers(sub, tenant, env, bearer=_bearer(sub))


@define
class Msg:
    """A message the model knows: where it hangs in its thread's tree and what it reads as."""

    id: str
    seq: int
    parent: int | None  # index (seq - 1) of its parent in the thread, or None for a root
    role: str
    author: str
    content: str
    status: str = "complete"
    redacted: bool = False
    erased: bool = False
    chunks: int = 0
    ratings: dict[str, int] = field(factory=dict)

    def read(self) -> str | None:
        """Return the words it reads with: none once redacted or its author erased."""
        return None if self.redacted or self.erased else self.content


@define
class Tree:
    """A thread the model knows: its partition, messages by seq and where it was forked from."""

    tenant: str
    env: str
    id: str
    msgs: list[Msg] = field(factory=list)
    forked_from: dict[str, str] | None = None

    def path(self, index: int) -> list[Msg]:
        """Return the messages from the root to the one at index, root first."""
        path: list[Msg] = []
        at: int | None = index
        while at is not None:
            path.append(self.msgs[at])
            at = self.msgs[at].parent
        return path[::-1]

    def children(self, index: int) -> list[Msg]:
        """Return the messages posted under the one at index, by seq."""
        return [m for m in self.msgs if m.parent == index]

    @property
    def head(self) -> str | None:
        """Return the newest message's id, the thread's head."""
        return self.msgs[-1].id if self.msgs else None

    @property
    def stream(self) -> str:
        return f"chat/{self.tenant}/{self.env}/{self.id}"


# What a message read from the app is compared on.
_FIELDS = (
    "id",
    "thread_id",
    "seq",
    "parent_id",
    "role",
    "author",
    "content",
    "redacted",
    "erased",
    "status",
    "feedback",
)


def _expected(tree: Tree, msg: Msg) -> dict[str, Any]:
    """Return how the model says a message of the tree reads."""
    ups = sum(1 for rating in msg.ratings.values() if rating == 1)
    return {
        "id": msg.id,
        "thread_id": tree.id,
        "seq": msg.seq,
        "parent_id": None if msg.parent is None else tree.msgs[msg.parent].id,
        "role": msg.role,
        "author": msg.author,
        "content": msg.read(),
        "redacted": msg.redacted,
        "erased": msg.erased,
        "status": msg.status,
        "feedback": {"up": ups, "down": len(msg.ratings) - ups},
    }


def _seen(message: dict[str, Any]) -> dict[str, Any]:
    """Return the fields of a message read from the app that the model speaks for."""
    return {name: message[name] for name in _FIELDS}


class BranchMachine(RuleBasedStateMachine):
    """Grow, branch, redact, rate and fork conversation trees across tenants and envs."""

    store_url = "memory://"

    def __init__(self) -> None:
        super().__init__()
        self._dir: str | None = None
        url = self.store_url
        if url == "sqlite":
            self._dir = tempfile.mkdtemp(prefix="branch-machine-")
            url = f"sqlite:///{self._dir}/chat.db"
        self._url = url
        self.app = SyncApp(store_url=url)
        self.trees: list[Tree] = []
        self.events = 0

    def teardown(self) -> None:
        try:
            self.app.close()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)

    # Requests -----------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, sub: str, tree: Tree, body: Any = None, **query: str
    ) -> Any:
        request: dict[str, Any] = {"headers": _headers(sub, tree.tenant, tree.env)}
        if body is not None:
            request["json"] = body
        if query:
            request["params"] = query
        return self.app.request(method, path, **request)

    def _refused(
        self, status: int, method: str, path: str, headers: dict[str, str], body: Any = None
    ) -> Any:
        """Make a request that must be refused with status, appending nothing."""
        head = self.app.head()
        request: dict[str, Any] = {"headers": headers}
        if body is not None:
            request["json"] = body
        answer = self.app.request(method, path, **request)
        assert answer.status == status, (method, path, answer.status, answer.body)
        assert self.app.head() == head, f"{method} {path} appended despite {status}"
        return answer

    def _pages(self, tree: Tree, path: str, limit: int, **query: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params = {"limit": str(limit), **query}
        most = sum(len(tree.msgs) for tree in self.trees)
        while True:
            # A cursor that never moves on would page for ever: no listing is this long.
            assert len(items) <= most, f"{path} pages past every message known"
            answer = self._call("GET", path, MEMBERS[0], tree, **params)
            assert answer.status == 200, answer.body
            page = answer.json()
            assert len(page["data"]) <= limit
            items += page["data"]
            if not page["has_more"]:
                assert page["next"] is None
                return items
            assert len(page["data"]) == limit
            params["after"] = page["next"]

    def _tree(self, pick: int) -> Tree:
        return self.trees[pick % len(self.trees)]

    def _posted(self, tree: Tree, answer: Any, parent: int | None, role: str, sub: str) -> Msg:
        assert answer.status == 201, answer.body
        message = answer.json()
        msg = Msg(
            id=message["id"],
            seq=len(tree.msgs) + 1,
            parent=parent,
            role=role,
            author=sub,
            content=message["content"],
            status=message["status"],
        )
        tree.msgs.append(msg)
        self.events += 1
        assert _seen(message) == _expected(tree, msg)
        return msg

    def _post(
        self, tree: Tree, sub: str, role: str, parent: int | None, body: dict[str, Any]
    ) -> Msg:
        """Post under a named parent, or (parent None) under the thread's head."""
        body = {"role": role, **body}
        if parent is not None:
            body["parent_id"] = tree.msgs[parent].id
        elif tree.msgs:
            parent = len(tree.msgs) - 1
        path = f"/chat/threads/{tree.id}/messages"
        return self._posted(tree, self._call("POST", path, sub, tree, body), parent, role, sub)

    def _open(self, tenant: str, env: str, sub: str) -> Tree:
        answer = self.app.request(
            "POST", "/chat/threads", json={}, headers=_headers(sub, tenant, env)
        )
        assert answer.status == 201, answer.body
        tree = Tree(tenant, env, answer.json()["id"])
        self.trees.append(tree)
        self.events += 1
        return tree

    # Rules --------------------------------------------------------------------------------

    @initialize(tenant=st.sampled_from(TENANTS), env=st.sampled_from(ENVS))
    def first_thread(self, tenant: str, env: str) -> None:
        self._open(tenant, env, MEMBERS[0])

    @rule(tenant=st.sampled_from(TENANTS), env=st.sampled_from(ENVS), sub=st.sampled_from(MEMBERS))
    def open_thread(self, tenant: str, env: str, sub: str) -> None:
        self._open(tenant, env, sub)

    @rule(
        pick=PICK,
        parent=st.one_of(st.none(), PICK),
        role=st.sampled_from(["user", "user", "assistant"]),
        sub=st.sampled_from(MEMBERS),
        words=WORDS,
    )
    def post(self, pick: int, parent: int | None, role: str, sub: str, words: str) -> None:
        tree = self._tree(pick)
        named = None if parent is None or not tree.msgs else parent % len(tree.msgs)
        self._post(tree, AGENT if role == "assistant" else sub, role, named, {"content": words})

    @rule(pick=PICK, words=WORDS)
    def reply(self, pick: int, words: str) -> None:
        """Continue the conversation from the head, answering a question or asking again."""
        tree = self._tree(pick)
        asks = not tree.msgs or tree.msgs[-1].role == "assistant"
        role, sub = ("user", MEMBERS[len(tree.msgs) % 2]) if asks else ("assistant", AGENT)
        self._post(tree, sub, role, None, {"content": words})

    @rule(pick=PICK, which=PICK, role=st.sampled_from(["user", "assistant"]), words=WORDS)
    def sibling(self, pick: int, which: int, role: str, words: str) -> None:
        """Edit a question or regenerate an answer: a new message under the old one's parent."""
        tree = self._tree(pick)
        olds = [m for m in tree.msgs if m.role == role and m.parent is not None]
        if not olds:
            return
        old = olds[which % len(olds)]
        sub = AGENT if role == "assistant" else old.author
        new = self._post(tree, sub, role, old.parent, {"content": words})
        assert old.parent is not None
        assert new.parent == old.parent and old in tree.children(old.parent)

    @rule(pick=PICK, parent=st.one_of(st.none(), PICK))
    def start_generation(self, pick: int, parent: int | None) -> None:
        tree = self._tree(pick)
        named = None if parent is None or not tree.msgs else parent % len(tree.msgs)
        body = {"status": "in_progress", "model": "m-1"}
        msg = self._post(tree, AGENT, "assistant", named, body)
        assert (msg.status, msg.content) == ("in_progress", "")

    def _generating(self, pick: int, which: int) -> tuple[Tree, Msg] | None:
        tree = self._tree(pick)
        going = [m for m in tree.msgs if m.status == "in_progress" and not m.redacted]
        return None if not going else (tree, going[which % len(going)])

    @rule(pick=PICK, which=PICK, words=WORDS)
    def chunk(self, pick: int, which: int, words: str) -> None:
        found = self._generating(pick, which)
        if found is None:
            return
        tree, msg = found
        path = f"/chat/threads/{tree.id}/messages/{msg.id}/chunks"
        answer = self._call("POST", path, AGENT, tree, {"index": msg.chunks, "content": words})
        assert answer.status == 200, answer.body
        msg.content += words
        msg.chunks += 1
        assert answer.json()["length"] == len(msg.content)
        self.events += 1

    @rule(pick=PICK, which=PICK, end=st.sampled_from(["complete", "cancel"]))
    def end_generation(self, pick: int, which: int, end: str) -> None:
        found = self._generating(pick, which)
        if found is None:
            return
        tree, msg = found
        path = f"/chat/threads/{tree.id}/messages/{msg.id}/{end}"
        answer = self._call("POST", path, AGENT if end == "complete" else MEMBERS[1], tree, {})
        assert answer.status == 200, answer.body
        msg.status = "complete" if end == "complete" else "cancelled"
        self.events += 1
        assert _seen(answer.json()) == _expected(tree, msg)

    @rule(pick=PICK, which=PICK)
    def redact(self, pick: int, which: int) -> None:
        tree = self._tree(pick)
        if not tree.msgs:
            return
        msg = tree.msgs[which % len(tree.msgs)]
        head = self.app.head()
        path = f"/chat/threads/{tree.id}/messages/{msg.id}"
        answer = self._call("DELETE", path, msg.author, tree)
        assert answer.status == 204, answer.body
        # A repeat changes nothing.
        assert self.app.head() == head + (0 if msg.redacted else 1)
        self.events += 0 if msg.redacted else 1
        msg.redacted = True

    @rule(pick=PICK, which=PICK, sub=st.sampled_from(MEMBERS), rating=st.sampled_from([1, -1, 0]))
    def rate(self, pick: int, which: int, sub: str, rating: int) -> None:
        tree = self._tree(pick)
        if not tree.msgs:
            return
        msg = tree.msgs[which % len(tree.msgs)]
        path = f"/chat/threads/{tree.id}/messages/{msg.id}/feedback"
        headers = _headers(sub, tree.tenant, tree.env)
        body = None if rating == 0 else {"rating": rating}
        method = "DELETE" if rating == 0 else "PUT"
        if msg.role != "assistant":
            self._refused(422, method, path, headers, body)
            return
        head = self.app.head()
        answer = self._call(method, path, sub, tree, body)
        assert answer.status == (204 if rating == 0 else 200), answer.body
        standing = sub in msg.ratings
        if rating == 0:
            msg.ratings.pop(sub, None)
        else:
            msg.ratings[sub] = rating
        self.events += 1 if rating != 0 or standing else 0
        assert self.app.head() - head == (1 if rating != 0 or standing else 0)

    @rule(pick=PICK, which=PICK, sub=st.sampled_from(MEMBERS))
    def fork(self, pick: int, which: int, sub: str) -> None:
        source = self._tree(pick)
        if not source.msgs:
            return
        index = which % len(source.msgs)
        tip = source.msgs[index]
        path = source.path(index)
        route = f"/chat/threads/{source.id}/forks"
        body = {"message_id": tip.id, "title": "fork"}
        headers = _headers(sub, source.tenant, source.env)
        if any(m.status == "in_progress" for m in path):
            self._refused(409, "POST", route, headers, body)
            event("fork refused: in progress")
            return
        event(f"fork of a path of {min(len(path), 6)}+")
        answer = self._call("POST", route, sub, source, body)
        assert answer.status == 201, answer.body
        thread = answer.json()
        assert thread["forked_from"] == {"thread_id": source.id, "message_id": tip.id}
        assert (thread["created_by"], thread["message_count"]) == (sub, len(path))
        fork = Tree(source.tenant, source.env, thread["id"], forked_from=thread["forked_from"])
        copies = self._pages(fork, f"/chat/threads/{fork.id}/messages", 100)
        assert len(copies) == len(path)
        ids = {m.id for tree in self.trees for m in tree.msgs}
        for seq, (copy, original) in enumerate(zip(copies, path, strict=True), start=1):
            assert copy["id"] not in ids
            fork.msgs.append(
                Msg(
                    id=copy["id"],
                    seq=seq,
                    parent=None if seq == 1 else seq - 2,
                    role=original.role,
                    author=original.author,
                    content=original.content,
                    status=original.status,
                    redacted=original.redacted,
                    erased=original.erased,
                )
            )
        assert [_seen(c) for c in copies] == [_expected(fork, m) for m in fork.msgs]
        assert thread["head"] == fork.head
        self.trees.append(fork)
        self.events += 1 + len(path)

    @rule(tenant=st.sampled_from(TENANTS), env=st.sampled_from(ENVS))
    def erase(self, tenant: str, env: str) -> None:
        """Erase a member in a tenant: every message they wrote there so far reads erased.

        Copies in forks included; what they post afterwards reads as usual.
        """
        subject = MEMBERS[1]
        head = self.app.head()
        answer = self.app.request(
            "POST",
            "/admin/erasures",
            json={"subject": subject},
            headers=_headers(ADMIN, tenant, env),
        )
        assert answer.status == 202, answer.body
        for tree in self.trees:
            if tree.tenant == tenant:
                for msg in tree.msgs:
                    msg.erased = msg.erased or msg.author == subject
        # One chat.erasure.recorded; the words go with the keys, the log keeps its events.
        assert self.app.head() == head + 1
        self.events += 1

    @precondition(lambda self: self._dir is not None)
    @rule()
    def restart(self) -> None:
        """Stop the server and start another on the same file: it reads the log afresh."""
        self.app.close()
        self.app = SyncApp(store_url=self._url)

    @rule(pick=PICK, which=PICK, limit=LIMITS)
    def read_path(self, pick: int, which: int, limit: int) -> None:
        tree = self._tree(pick)
        if not tree.msgs:
            return
        index = which % len(tree.msgs)
        route = f"/chat/threads/{tree.id}/messages/{tree.msgs[index].id}/path"
        seen = self._pages(tree, route, limit)
        assert [_seen(m) for m in seen] == [_expected(tree, m) for m in tree.path(index)]
        event(f"path over {min(-(-len(seen) // limit), 3)}+ pages")

    @rule(pick=PICK, which=PICK, limit=LIMITS, order=st.sampled_from(["asc", "desc"]))
    def read_children(self, pick: int, which: int, limit: int, order: str) -> None:
        tree = self._tree(pick)
        if not tree.msgs:
            return
        index = which % len(tree.msgs)
        route = f"/chat/threads/{tree.id}/messages"
        parent_id = tree.msgs[index].id
        seen = self._pages(tree, route, limit, parent_id=parent_id, order=order)
        expected = [_expected(tree, m) for m in tree.children(index)]
        assert [_seen(m) for m in seen] == (expected if order == "asc" else expected[::-1])

    @rule(pick=PICK, limit=LIMITS)
    def read_thread(self, pick: int, limit: int) -> None:
        tree = self._tree(pick)
        answer = self._call("GET", f"/chat/threads/{tree.id}", MEMBERS[1], tree)
        assert answer.status == 200, answer.body
        thread = answer.json()
        assert (thread["head"], thread["forked_from"]) == (tree.head, tree.forked_from)
        assert (thread["message_count"], thread["last_seq"]) == (len(tree.msgs),) * 2
        seen = self._pages(tree, f"/chat/threads/{tree.id}/messages", limit)
        assert [_seen(m) for m in seen] == [_expected(tree, m) for m in tree.msgs]

    @rule(pick=PICK, which=PICK, into=PICK, sub=st.sampled_from(MEMBERS))
    def foreign_ids(self, pick: int, which: int, into: int, sub: str) -> None:
        """Name a message of one thread in another's requests: refused, nothing appended.

        The other thread may be of the same partition, or of another tenant or env.
        """
        owners = [tree for tree in self.trees if tree.msgs]
        if not owners:
            return
        owner = owners[pick % len(owners)]
        msg = owner.msgs[which % len(owner.msgs)]
        others = [tree for tree in self.trees if tree is not owner]
        if not others:
            return
        target = others[into % len(others)]
        headers = _headers(sub, target.tenant, target.env)
        base = f"/chat/threads/{target.id}"
        post = {"content": "x", "parent_id": msg.id}
        answer = self._refused(422, "POST", f"{base}/messages", headers, post)
        assert answer.json()["errors"][0]["field"] == "parent_id"
        answer = self._refused(422, "POST", f"{base}/forks", headers, {"message_id": msg.id})
        assert answer.json()["errors"][0]["field"] == "message_id"
        for method, route, body in (
            ("GET", f"{base}/messages/{msg.id}/path", None),
            ("GET", f"{base}/messages?parent_id={msg.id}", None),
            ("PUT", f"{base}/messages/{msg.id}/feedback", {"rating": 1}),
            ("DELETE", f"{base}/messages/{msg.id}/feedback", None),
            ("DELETE", f"{base}/messages/{msg.id}", None),
        ):
            self._refused(404, method, route, headers, body)

    @rule(pick=PICK, which=PICK, elsewhere=st.sampled_from(["tenant", "env", "both"]))
    def from_elsewhere(self, pick: int, which: int, elsewhere: str) -> None:
        """Reach a thread's own routes from another tenant or env: 404, nothing appended."""
        tree = self._tree(pick)
        tenant, env = tree.tenant, tree.env
        if elsewhere in ("tenant", "both"):
            tenant = TENANTS[(TENANTS.index(tenant) + 1) % len(TENANTS)]
        if elsewhere in ("env", "both"):
            env = ENVS[(ENVS.index(env) + 1) % len(ENVS)]
        headers = _headers(MEMBERS[0], tenant, env)
        base = f"/chat/threads/{tree.id}"
        routes: list[tuple[str, str, Any]] = [
            ("GET", base, None),
            ("GET", f"{base}/messages", None),
            ("POST", f"{base}/messages", {"content": "x"}),
        ]
        if tree.msgs:
            msg = tree.msgs[which % len(tree.msgs)]
            routes += [
                ("GET", f"{base}/messages/{msg.id}/path", None),
                ("GET", f"{base}/messages?parent_id={msg.id}", None),
                ("POST", f"{base}/forks", {"message_id": msg.id}),
                ("PUT", f"{base}/messages/{msg.id}/feedback", {"rating": -1}),
                ("POST", f"{base}/messages", {"content": "x", "parent_id": msg.id}),
            ]
        for method, route, body in routes:
            answer = self._refused(404, method, route, headers, body)
            assert tree.id.encode() not in answer.body
        listed = self.app.request("GET", "/chat/threads?limit=100", headers=headers)
        assert listed.status == 200
        mine = [t.id for t in self.trees if (t.tenant, t.env) == (tenant, env)]
        assert [t["id"] for t in listed.json()["data"]] == mine[::-1][:100]

    # Invariants ---------------------------------------------------------------------------

    @invariant()
    def the_log_holds_exactly_the_model_s_events(self) -> None:
        assert self.app.head() == self.events

    @invariant()
    def each_thread_is_gap_free_in_its_own_partition(self) -> None:
        for tree in self.trees:
            recorded = self.app.run(self.app.store.read_stream(tree.stream))
            assert recorded, f"{tree.stream} holds nothing"
            versions = [item.event.version for item in recorded]
            assert versions == list(range(1, len(recorded) + 1))
            posted = [
                item.event.payload
                for item in recorded
                if isinstance(item.event.payload, MessagePosted)
            ]
            assert [p.seq for p in posted] == list(range(1, len(tree.msgs) + 1))
            assert [p.message_id for p in posted] == [m.id for m in tree.msgs]
            partitions = {(item.event.tenant, item.event.env.value) for item in recorded}
            assert partitions == {(tree.tenant, tree.env)}


BranchMachine.TestCase.settings = settings(
    settings.default, max_examples=100, stateful_step_count=60, deadline=None
)
TestBranchMachine = BranchMachine.TestCase


class SqliteBranchMachine(BranchMachine):
    """The same trees on a SQLite file: a store that reads messages back from disk."""

    store_url = "sqlite"


SqliteBranchMachine.TestCase.settings = settings(
    settings.default, max_examples=10, stateful_step_count=60, deadline=None
)
TestSqliteBranchMachine = SqliteBranchMachine.TestCase


class ReadBackBranchMachine(BranchMachine):
    """The same trees with a thread keeping only its first and newest 3 messages in memory.

    Every other message of a path, children, a page or a fork is read back from the
    stream (from a mark every 4th message), on a SQLite file, so the read-back is what
    the model checks.
    """

    store_url = "sqlite"
    WINDOW = {(state, "FIRST"): 3, (state, "RECENT"): 3}
    WINDOW |= {(module, "STRIDE"): 4 for module in (state, caches, fold)}

    def __init__(self) -> None:
        self._kept = {place: getattr(*place) for place in self.WINDOW}
        for (module, name), value in self.WINDOW.items():
            setattr(module, name, value)
        super().__init__()

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            for (module, name), value in self._kept.items():
                setattr(module, name, value)


ReadBackBranchMachine.TestCase.settings = settings(
    settings.default, max_examples=15, stateful_step_count=60, deadline=None
)
TestReadBackBranchMachine = ReadBackBranchMachine.TestCase
