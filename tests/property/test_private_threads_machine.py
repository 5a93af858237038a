"""Private and shared threads, driven at random; a plain model says who sees what.

Users of two tenants (members, admins, an agent) open private and shared threads, change
their participants, titles, metadata and archived flags, post, redact, fork and erase each
other, all through the real app. After every step each user's thread list (with and
without filters) is exactly the model's visible set, in order, field for field, and a
page read of a thread by anyone who may not see it is a 404 word for word the same as for
a thread that does not exist.

Once the app serves GET /chat/search, a search for a word of VOCABULARY (any case, across
the tenant or within one thread) finds exactly the model's readable messages holding it:
complete, neither redacted nor erased, of threads the searcher may see; a search within a
thread the searcher may not see is the 404 of an unknown thread.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define, field
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
)

from chat_core.visibility import UNKNOWN_THREAD
from tests.http.helpers import Answer, SyncApp, auth_headers, token
from tests.security.strategies import route_shapes

TENANTS = ("t_acme", "t_globex")
ENV = "dev"
# Who is who, per tenant: a member may see shared threads, an admin changes any thread it
# may see, an agent sees every thread of its tenant, private ones too.
ROLES: Mapping[str, Mapping[str, Sequence[str]]] = {
    "u_ada": {"t_acme": ["member"], "t_globex": ["member"]},
    "u_bob": {"t_acme": ["member"]},
    "u_cyd": {"t_acme": ["admin"]},
    "u_dan": {"t_acme": ["member"], "t_globex": ["admin"]},
    "svc_bot": {"t_acme": ["agent"], "t_globex": ["agent"]},
}
SUBS = sorted(ROLES)
# Participants may name anyone: the cast, and subjects no token here carries.
PARTICIPANT_POOL = [*SUBS, "u_zed"]
# Words messages are made of, accented and cased variously for a search to fold.
VOCABULARY = ("apple", "Banana", "cherry", "déjà", "Éclair", "fig")
TITLES = st.sampled_from(["plans", "notes", "Déjà vu", "x" * 200])
METADATA = st.sampled_from([{}, {"team": "red"}, {"team": "blue"}, {"team": "red", "kind": "bug"}])
UNKNOWN = "th_nosuchthreadhere0000"
_SEGMENTS = re.compile(r"(th|msg)_[^/?]+")

_TOKENS = {sub: token(sub, tenants) for sub, tenants in ROLES.items()}
# Who asks: mostly someone who may see the thread asked about (so that most writes land),
# now and then anyone of the cast.
CALLERS = st.tuples(st.sampled_from([True, True, True, False]), st.integers(0, 99))
# Where threads are opened: mostly by a member of the tenant.
_MEMBERS = [(sub, tenant) for tenant in ("t_acme", "t_globex") for sub in sorted(ROLES)]
OPENERS = st.one_of(
    st.sampled_from([(sub, tenant) for sub, tenant in _MEMBERS if ROLES[sub].get(tenant)]),
    st.sampled_from(_MEMBERS),
)


def headers(sub: str, tenant: str) -> dict[str, str]:
    return auth_headers(sub, tenant, ENV, bearer=_TOKENS[sub])


def _roles(sub: str, tenant: str) -> Sequence[str]:
    return ROLES[sub].get(tenant, ())


@define
class MessageModel:
    message_id: str
    author: str
    content: str
    redacted: bool = False
    erased: bool = False

    def shown(self) -> tuple[str, str, str | None, bool, bool]:
        withdrawn = self.redacted or self.erased
        return (
            self.message_id,
            self.author,
            None if withdrawn else self.content,
            self.redacted,
            self.erased,
        )


@define
class ThreadModel:
    thread_id: str
    tenant: str
    creator: str
    visibility: str
    title: str | None
    metadata: dict[str, str]
    # Whose words the title and the metadata are: an erasure of them withdraws them.
    title_by: str
    metadata_by: str
    participants: tuple[str, ...] = ()
    archived: bool = False
    messages: list[MessageModel] = field(factory=list)

    def shown(self) -> dict[str, Any]:
        return {
            "id": self.thread_id,
            "created_by": self.creator,
            "visibility": self.visibility,
            "participants": list(self.participants),
            "archived": self.archived,
            "title": self.title,
            "metadata": self.metadata,
            "message_count": len(self.messages),
        }


# The fields of a thread the model keeps, compared with every thread a listing shows.
SHOWN = (
    "id",
    "created_by",
    "visibility",
    "participants",
    "archived",
    "title",
    "metadata",
    "message_count",
)


def member(sub: str, tenant: str) -> bool:
    return bool(_roles(sub, tenant))


def may_see(sub: str, thread: ThreadModel) -> bool:
    """The contract's rule: shared to the tenant; private to creator, participants, agents."""
    roles = _roles(sub, thread.tenant)
    if not roles:
        return False
    return (
        thread.visibility == "tenant"
        or sub == thread.creator
        or sub in thread.participants
        or "agent" in roles
    )


@define
class Model:
    """Every thread the app should hold, oldest first."""

    threads: list[ThreadModel] = field(factory=list)

    def thread(self, thread_id: str) -> ThreadModel:
        return next(thread for thread in self.threads if thread.thread_id == thread_id)

    def visible_threads(
        self,
        sub: str,
        tenant: str,
        *,
        archived: bool | None = False,
        created_by: str | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> list[ThreadModel]:
        """The threads a listing shows sub in tenant, newest first."""
        return [
            thread
            for thread in reversed(self.threads)
            if thread.tenant == tenant
            and may_see(sub, thread)
            and (archived is None or thread.archived == archived)
            and (created_by is None or thread.creator == created_by)
            and all(thread.metadata.get(key) == value for key, value in metadata)
        ]

    def readable_messages(self, sub: str, tenant: str) -> list[tuple[str, MessageModel]]:
        """(thread id, message) of every message sub may read in tenant, words intact."""
        return [
            (thread.thread_id, message)
            for thread in self.visible_threads(sub, tenant, archived=None)
            for message in thread.messages
            if not (message.redacted or message.erased)
        ]

    def expected_search(self, sub: str, tenant: str, word: str) -> set[str]:
        """The message ids a search for one word of VOCABULARY must find: whole, any case."""
        folded = word.casefold()
        return {
            message.message_id
            for _, message in self.readable_messages(sub, tenant)
            if folded in (part.casefold() for part in message.content.split())
        }

    def erase(self, tenant: str, subject: str) -> set[str]:
        """Withdraw the subject's words in the tenant; return the threads that held some."""
        touched = set()
        for thread in self.threads:
            if thread.tenant != tenant:
                continue
            if subject in (thread.title_by, thread.metadata_by) or any(
                message.author == subject for message in thread.messages
            ):
                touched.add(thread.thread_id)
            for message in thread.messages:
                if message.author == subject:
                    message.erased = True
            if thread.title_by == subject:
                thread.title = None
            if thread.metadata_by == subject:
                thread.metadata = {}
        return touched


def _problem(answer: Answer) -> dict[str, Any]:
    assert answer.headers["Content-Type"].startswith("application/problem+json"), answer.body
    problem: dict[str, Any] = answer.json()
    assert problem["status"] == answer.status
    return {name: value for name, value in problem.items() if name != "request_id"}


class PrivateThreadsMachine(RuleBasedStateMachine):
    """Open, share, change, post to, redact, fork and erase; check who sees what."""

    threads = Bundle("threads")
    store_url = "memory://"

    def __init__(self) -> None:
        super().__init__()
        self._dir: str | None = None
        options: dict[str, Any] = {"master_key": os.urandom(32)}
        if self.store_url != "memory://":
            self._dir = tempfile.mkdtemp(prefix="privprops-")
            options["store_url"] = f"sqlite:///{self._dir}/chat.db"
        self.app = SyncApp(**options)
        # Search is checked once the app serves it.
        self.searchable = any(
            shape.template == "/chat/search" for shape in route_shapes(self.app.client.app)
        )
        self.model = Model()
        # Threads whose visibility or words changed in the last step: checked for outsiders.
        self.touched: set[str] = set()

    def teardown(self) -> None:
        try:
            self.app.close()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)

    @staticmethod
    def _caller(drawn: tuple[bool, int], thread: ThreadModel) -> str:
        insider, index = drawn
        pool = [sub for sub in SUBS if may_see(sub, thread)] if insider else SUBS
        return (pool or SUBS)[index % len(pool or SUBS)]

    def _request(self, method: str, path: str, sub: str, tenant: str, **request: Any) -> Answer:
        head = self.app.head()
        answer = self.app.request(method, path, headers=headers(sub, tenant), **request)
        if answer.status >= 400:
            assert self.app.head() == head, f"{method} {path} appended despite {answer.status}"
        event(f"{method} {_SEGMENTS.sub('{id}', path)} {answer.status}")
        return answer

    @initialize(
        target=threads,
        opener=st.sampled_from([("u_ada", "t_acme"), ("u_bob", "t_acme"), ("u_dan", "t_globex")]),
        visibility=st.sampled_from(["tenant", "private"]),
        title=st.none() | TITLES,
        metadata=METADATA,
    )
    def first_thread(
        self,
        opener: tuple[str, str],
        visibility: str,
        title: str | None,
        metadata: dict[str, str],
    ) -> Any:
        return self.create_thread(opener[0], opener[1], visibility, title, metadata)

    @rule(
        target=threads,
        opener=OPENERS,
        visibility=st.sampled_from(["tenant", "private"]),
        title=st.none() | TITLES,
        metadata=METADATA,
    )
    def open_thread(
        self,
        opener: tuple[str, str],
        visibility: str,
        title: str | None,
        metadata: dict[str, str],
    ) -> Any:
        return self.create_thread(opener[0], opener[1], visibility, title, metadata)

    def create_thread(
        self, sub: str, tenant: str, visibility: str, title: str | None, metadata: dict[str, str]
    ) -> Any:
        body: dict[str, Any] = {"visibility": visibility, "metadata": metadata}
        if title is not None:
            body["title"] = title
        answer = self._request("POST", "/chat/threads", sub, tenant, json=body)
        if not member(sub, tenant):
            assert answer.status == 403
            return multiple()
        assert answer.status == 201, answer.body
        thread = ThreadModel(
            thread_id=answer.json()["id"],
            tenant=tenant,
            creator=sub,
            visibility=visibility,
            title=title,
            metadata=dict(metadata),
            title_by=sub,
            metadata_by=sub,
        )
        self.model.threads.append(thread)
        self.touched.add(thread.thread_id)
        return thread.thread_id

    @rule(
        caller=CALLERS,
        thread_id=threads,
        words=st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=3),
    )
    def post_message(self, caller: tuple[bool, int], thread_id: str, words: list[str]) -> None:
        thread = self.model.thread(thread_id)
        sub = self._caller(caller, thread)
        content = " ".join(words)
        answer = self._request(
            "POST",
            f"/chat/threads/{thread_id}/messages",
            sub,
            thread.tenant,
            json={"content": content},
        )
        if not member(sub, thread.tenant):
            assert answer.status == 403
        elif not may_see(sub, thread):
            assert answer.status == 404 and _problem(answer)["detail"] == UNKNOWN_THREAD
        else:
            assert answer.status == 201, answer.body
            message = answer.json()
            assert (message["author"], message["seq"]) == (sub, len(thread.messages) + 1)
            thread.messages.append(MessageModel(message["id"], sub, content))
            self.touched.add(thread_id)

    @rule(caller=CALLERS, pick=st.integers(0, 10_000))
    def redact_message(self, caller: tuple[bool, int], pick: int) -> None:
        posted = [(t, m) for t in self.model.threads for m in t.messages]
        if not posted:
            return
        thread, message = posted[pick % len(posted)]
        sub = self._caller(caller, thread)
        thread_id = thread.thread_id
        answer = self._request(
            "DELETE",
            f"/chat/threads/{thread_id}/messages/{message.message_id}",
            sub,
            thread.tenant,
        )
        if not member(sub, thread.tenant):
            assert answer.status == 403
        elif not may_see(sub, thread):
            assert answer.status == 404 and _problem(answer)["detail"] == UNKNOWN_THREAD
        elif sub != message.author and "admin" not in _roles(sub, thread.tenant):
            assert answer.status == 403, answer.body
        else:
            assert answer.status == 204, answer.body
            message.redacted = True
            self.touched.add(thread_id)

    @rule(
        caller=CALLERS,
        thread_id=threads,
        title=st.none() | TITLES,
        metadata=st.none() | METADATA,
        archived=st.none() | st.booleans(),
        participants=st.none() | st.lists(st.sampled_from(PARTICIPANT_POOL), max_size=4),
    )
    def patch_thread(
        self,
        caller: tuple[bool, int],
        thread_id: str,
        title: str | None,
        metadata: dict[str, str] | None,
        archived: bool | None,
        participants: list[str] | None,
    ) -> None:
        thread = self.model.thread(thread_id)
        sub = self._caller(caller, thread)
        body = {
            name: value
            for name, value in (
                ("title", title),
                ("metadata", metadata),
                ("archived", archived),
                ("participants", participants),
            )
            if value is not None
        }
        if not body:
            return
        head = self.app.head()
        answer = self._request("PATCH", f"/chat/threads/{thread_id}", sub, thread.tenant, json=body)
        roles = _roles(sub, thread.tenant)
        creator = sub == thread.creator
        if not roles:
            assert answer.status == 403
            return
        if not may_see(sub, thread):
            assert answer.status == 404 and _problem(answer)["detail"] == UNKNOWN_THREAD
            return
        if not creator and "admin" not in roles:
            assert answer.status == 403, answer.body
            return
        if participants is not None and thread.visibility != "private":
            assert answer.status == 422, answer.body
            return
        if participants is not None and not creator:
            assert answer.status == 403, answer.body
            return
        assert answer.status == 200, answer.body
        changed = False
        if title is not None and title != thread.title:
            thread.title, thread.title_by, changed = title, sub, True
        if metadata is not None and metadata != thread.metadata:
            thread.metadata, thread.metadata_by, changed = dict(metadata), sub, True
        if archived is not None and archived != thread.archived:
            thread.archived, changed = archived, True
        if participants is not None:
            wanted = tuple(dict.fromkeys(participants))
            if wanted != thread.participants:
                thread.participants, changed = wanted, True
        assert self.app.head() == head + changed
        shown = answer.json()
        assert {name: shown[name] for name in thread.shown()} == thread.shown()
        self.touched.add(thread_id)

    @rule(
        target=threads,
        caller=CALLERS,
        pick=st.integers(0, 10_000),
        title=st.none() | TITLES,
    )
    def fork_thread(self, caller: tuple[bool, int], pick: int, title: str | None) -> Any:
        posted = [(t, index) for t in self.model.threads for index in range(len(t.messages))]
        if not posted:
            return multiple()
        source, index = posted[pick % len(posted)]
        sub = self._caller(caller, source)
        thread_id = source.thread_id
        body: dict[str, Any] = {"message_id": source.messages[index].message_id}
        if title is not None:
            body["title"] = title
        answer = self._request(
            "POST", f"/chat/threads/{thread_id}/forks", sub, source.tenant, json=body
        )
        if not member(sub, source.tenant):
            assert answer.status == 403
            return multiple()
        if not may_see(sub, source):
            assert answer.status == 404 and _problem(answer)["detail"] == UNKNOWN_THREAD
            return multiple()
        assert answer.status == 201, answer.body
        fork = ThreadModel(
            thread_id=answer.json()["id"],
            tenant=source.tenant,
            creator=sub,
            visibility=source.visibility,
            title=title,
            metadata={},
            title_by=sub,
            metadata_by=sub,
        )
        copies = self._page(fork.thread_id, sub, fork.tenant)
        assert len(copies) == index + 1
        for copy, original in zip(copies, source.messages[: index + 1], strict=True):
            fork.messages.append(
                MessageModel(
                    copy["id"],
                    original.author,
                    original.content,
                    # A copy is withdrawn for one reason: erased, else redacted.
                    redacted=original.redacted and not original.erased,
                    erased=original.erased,
                )
            )
        self.model.threads.append(fork)
        self.touched.add(fork.thread_id)
        return fork.thread_id

    @rule(
        # Mostly an admin of the tenant asks; now and then someone who may not.
        asker=st.sampled_from(
            [
                ("u_cyd", "t_acme"),
                ("u_dan", "t_globex"),
                ("u_ada", "t_acme"),
                ("svc_bot", "t_globex"),
            ]
        ),
        subject=st.sampled_from(SUBS),
    )
    def erase_subject(self, asker: tuple[str, str], subject: str) -> None:
        admin, tenant = asker
        answer = self._request("POST", "/admin/erasures", admin, tenant, json={"subject": subject})
        if "admin" not in _roles(admin, tenant):
            assert answer.status == 403, answer.body
            return
        assert answer.status == 202, answer.body
        self.touched |= self.model.erase(tenant, subject)

    def _page(self, thread_id: str, sub: str, tenant: str) -> list[dict[str, Any]]:
        answer = self.app.request(
            "GET",
            f"/chat/threads/{thread_id}/messages?limit=100",
            headers=headers(sub, tenant),
        )
        assert answer.status == 200, answer.body
        page = answer.json()
        assert not page["has_more"]
        data: list[dict[str, Any]] = page["data"]
        return data

    @rule(sub=st.sampled_from(SUBS), thread_id=threads, order=st.sampled_from(["asc", "desc"]))
    def read_page(self, sub: str, thread_id: str, order: str) -> None:
        thread = self.model.thread(thread_id)
        path = f"/chat/threads/{thread_id}/messages?limit=100&order={order}"
        answer = self.app.request("GET", path, headers=headers(sub, thread.tenant))
        if not member(sub, thread.tenant):
            assert answer.status == 403
            return
        if not may_see(sub, thread):
            self._check_unknown(sub, thread)
            return
        assert answer.status == 200, answer.body
        expected = [message.shown() for message in thread.messages]
        if order == "desc":
            expected.reverse()
        shown = [
            (m["id"], m["author"], m["content"], m["redacted"], m["erased"])
            for m in answer.json()["data"]
        ]
        assert shown == expected

    @rule(
        sub=st.sampled_from(SUBS),
        tenant=st.sampled_from(TENANTS),
        archived=st.sampled_from([None, "false", "true", "all"]),
        created_by=st.none() | st.sampled_from(["me", *SUBS]),
        metadata=st.lists(
            st.sampled_from([("team", "red"), ("team", "blue"), ("kind", "bug")]), max_size=2
        ),
        limit=st.integers(1, 5),
    )
    def list_filtered(
        self,
        sub: str,
        tenant: str,
        archived: str | None,
        created_by: str | None,
        metadata: list[tuple[str, str]],
        limit: int,
    ) -> None:
        query = [("limit", str(limit))]
        if archived is not None:
            query.append(("archived", archived))
        if created_by is not None:
            query.append(("created_by", created_by))
        query += [(f"metadata.{key}", value) for key, value in metadata]
        if not member(sub, tenant):
            answer = self.app.request(
                "GET", "/chat/threads", headers=headers(sub, tenant), params=query
            )
            assert answer.status == 403
            return
        wanted = {"false": False, "true": True, "all": None, None: False}[archived]
        expected = self.model.visible_threads(
            sub,
            tenant,
            archived=wanted,
            created_by=sub if created_by == "me" else created_by,
            metadata=metadata,
        )
        assert self._listing(sub, tenant, query) == [thread.shown() for thread in expected]

    def _listing(self, sub: str, tenant: str, query: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Every thread a listing shows, page after page."""
        seen: list[dict[str, Any]] = []
        after: list[tuple[str, str]] = []
        while True:
            answer = self.app.request(
                "GET", "/chat/threads", headers=headers(sub, tenant), params=query + after
            )
            assert answer.status == 200, answer.body
            page = answer.json()
            seen += [{name: thread[name] for name in SHOWN} for thread in page["data"]]
            if not page["has_more"]:
                return seen
            after = [("after", page["next"])]

    @rule(
        sub=st.sampled_from(SUBS),
        tenant=st.sampled_from(TENANTS),
        word=st.sampled_from(VOCABULARY),
        case=st.sampled_from([str, str.upper, str.lower]),
        scope=st.none() | threads,
    )
    def search(self, sub: str, tenant: str, word: str, case: Any, scope: str | None) -> None:
        """Search results are the model's readable messages holding the word, no more."""
        if not self.searchable:
            return
        query: list[tuple[str, str]] = [("q", case(word)), ("limit", "100")]
        if scope is not None:
            thread = self.model.thread(scope)
            tenant = thread.tenant
            query.append(("thread_id", scope))
        answer = self.app.request("GET", "/chat/search", headers=headers(sub, tenant), params=query)
        if not member(sub, tenant):
            assert answer.status == 403
            return
        if scope is not None and not may_see(sub, thread):
            unknown = self.app.request(
                "GET",
                "/chat/search",
                headers=headers(sub, tenant),
                params=[*query[:2], ("thread_id", UNKNOWN)],
            )
            assert answer.status == unknown.status == 404, answer.body
            assert _problem(answer) == _problem(unknown)
            return
        found: set[str] = set()
        while True:
            assert answer.status == 200, answer.body
            page = answer.json()
            found |= {hit["message"]["id"] for hit in page["data"]}
            if not page["has_more"]:
                break
            answer = self.app.request(
                "GET",
                "/chat/search",
                headers=headers(sub, tenant),
                params=[*query, ("after", page["next"])],
            )
        expected = self.model.expected_search(sub, tenant, word)
        if scope is not None:
            expected &= {message.message_id for message in thread.messages}
        event("a search checked: " + ("some found" if expected else "none found"))
        assert found == expected, (sub, tenant, word, scope)

    def _check_unknown(self, sub: str, thread: ThreadModel) -> None:
        """Every read of the thread by sub answers as for a thread that does not exist."""
        for path in (
            "/chat/threads/{}",
            "/chat/threads/{}/messages",
            "/chat/threads/{}/messages?order=desc&limit=1",
        ):
            hidden = self.app.request(
                "GET", path.format(thread.thread_id), headers=headers(sub, thread.tenant)
            )
            unknown = self.app.request(
                "GET", path.format(UNKNOWN), headers=headers(sub, thread.tenant)
            )
            event("an outsider's read checked")
            assert hidden.status == unknown.status == 404, hidden.body
            assert _problem(hidden) == _problem(unknown)
            assert thread.thread_id.encode() not in hidden.body

    @invariant()
    def every_listing_is_the_visible_set(self) -> None:
        for tenant in TENANTS:
            for sub in SUBS:
                if member(sub, tenant):
                    expected = self.model.visible_threads(sub, tenant, archived=None)
                    listed = self._listing(sub, tenant, [("archived", "all"), ("limit", "100")])
                    assert listed == [thread.shown() for thread in expected], (sub, tenant)

    @invariant()
    def outsiders_read_touched_threads_as_unknown(self) -> None:
        for thread_id in sorted(self.touched):
            thread = self.model.thread(thread_id)
            for sub in SUBS:
                if member(sub, thread.tenant) and not may_see(sub, thread):
                    self._check_unknown(sub, thread)
        self.touched.clear()


PrivateThreadsMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=40, deadline=None
)
TestPrivateThreads = PrivateThreadsMachine.TestCase


class SqlitePrivateThreadsMachine(PrivateThreadsMachine):
    """The same machine on a SQLite file: folds read back from disk, not only memory."""

    store_url = "sqlite"


SqlitePrivateThreadsMachine.TestCase.settings = settings(
    max_examples=10, stateful_step_count=30, deadline=None
)
TestSqlitePrivateThreads = SqlitePrivateThreadsMachine.TestCase
