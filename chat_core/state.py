"""What decisions and reads look at: a thread, its messages, a temperature config, and their names.

A thread's stream is named by its tenant, env and id; a message id names its seq, so a
message is found without an index. The states here are plain values that the fold
(chat_core.fold) moves forward and the caches (chat_core.caches) keep.
"""

from __future__ import annotations

import binascii
import os
import re
import sys
from array import array
from collections.abc import Iterator, Mapping
from datetime import datetime

from attrs import define, field

from chat_core.context import RequestContext
from chat_core.errors import NotFound
from chat_core.payloads import ForkedFrom, LlmFields
from chat_core.views import MessageView, ThreadView, forked_map, message_view
from events.envelope import Env, FrozenMap
from events.keys import KeyRing

__all__ = [
    "FIRST",
    "RECENT",
    "STRIDE",
    "THREAD_ID",
    "MessageState",
    "TemperatureState",
    "ThreadState",
    "message_bytes",
    "metadata_bytes",
    "names_seq",
    "new_message_id",
    "new_thread_id",
    "require_thread_id",
    "seq_in_message_id",
    "temperature_stream",
    "thread_stream",
]

# Messages of a thread kept in memory, oldest and newest: more than the largest page (100).
FIRST = 256
RECENT = 256
# A thread remembers the stream version of every STRIDE-th message, to read older ones back.
STRIDE = 64
# What a kept message costs besides its words: its state, its view and the view's JSON
# object (ids, time, flags), measured with the words left out (about 1,450 bytes with
# its view rendered); and each metadata entry, held in the state and in the view's JSON.
MESSAGE_BYTES = 1600
METADATA_ENTRY_BYTES = 400
# What a cached thread costs before any message or words: the state, its lists and marks.
THREAD_BYTES = 1200
# Per remembered redaction, and per message id that does not name its seq.
ID_BYTES = 160
_size_of = sys.getsizeof

THREAD_ID = re.compile(r"th_[A-Za-z0-9_-]{1,64}")
_NAMED_SEQ = re.compile(r"msg_([0-9a-f]{1,12})-")
_to_base64 = binascii.b2a_base64
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _token() -> str:
    """Return what secrets.token_urlsafe(15) returns, in one call each instead of six.

    15 bytes from os.urandom as 20 unpadded base64url characters.
    """
    return _to_base64(os.urandom(15), newline=False).translate(_URLSAFE).decode("ascii")


def new_thread_id() -> str:
    """Make an opaque, unguessable thread id."""
    return "th_" + _token()


def new_message_id(seq: int) -> str:
    """Make an unguessable message id that names its seq, so it is found without an index.

    Clients treat ids as opaque; the server reads the seq back with seq_in_message_id.
    """
    return f"msg_{seq:x}-{_token()}"


def seq_in_message_id(message_id: str) -> int | None:
    """Return the seq a message id names, or None when it names none (ids made before)."""
    named = _NAMED_SEQ.match(message_id)
    return None if named is None else int(named.group(1), 16)


def names_seq(message_id: str, seq: int) -> bool:
    """Tell whether a message id names seq, as seq_in_message_id would read it, without a regex."""
    return message_id.startswith(f"msg_{seq:x}-")


def message_bytes(content: str | None, metadata: FrozenMap, words_json: int) -> int:
    """Estimate the bytes a kept message holds: its words, and its view once rendered.

    words_json is the length of the words (content and metadata) as JSON, which the
    view's bytes hold; a sealed message's plaintext is that JSON, so the sealed text's
    length tells it without encoding anything.
    """
    size = MESSAGE_BYTES + words_json + metadata_bytes(metadata)
    if content is not None:
        # Text beyond ASCII also keeps its UTF-8 form once it has been encoded to JSON.
        size += _size_of(content) if content.isascii() else _size_of(content) + words_json
    return size


def metadata_bytes(metadata: FrozenMap) -> int:
    """Estimate the bytes a metadata map holds, with its copy in a rendered view."""
    if not metadata:
        return 0
    chars = sum(len(name) + len(value) for name, value in metadata.items())
    return METADATA_ENTRY_BYTES * len(metadata) + chars


def require_thread_id(thread_id: str) -> None:
    """Raise NotFound unless thread_id is shaped like an id this server makes."""
    if THREAD_ID.fullmatch(thread_id) is None:
        raise NotFound("no such thread in this tenant and env")


def thread_stream(context: RequestContext, thread_id: str) -> str:
    """Name the stream of a thread in the request's tenant and env."""
    # env is a StrEnum: formatted, it is its value (without the enum's property lookup).
    return f"chat/{context.tenant}/{context.env}/{thread_id}"


def temperature_stream(context: RequestContext) -> str:
    """Name the stream of the temperature config of the request's tenant and env."""
    return f"temperature/{context.tenant}/{context.env}"


@define(kw_only=True)
class MessageState:
    """One message as folded from its events, opened with its author's key when one is given.

    Equality compares what the log holds (the key that sealed it, redaction), not what a
    key opened, so a fold without keys compares equal to one with them. The sealed text
    itself is not kept: its key id is what an erasure needs, and the text is the bulk.
    """

    message_id: str
    seq: int
    role: str
    content: str | None = field(eq=False)
    metadata: FrozenMap = field(eq=False)
    author: str
    created_at: datetime
    request_id: str
    redacted: bool = False
    erased: bool = field(default=False, eq=False)
    # The id of the data key that sealed the words; None for words stored in clear.
    key_id: int | None = None
    # What it holds, for the cache's byte budget (see message_bytes).
    size: int = field(default=0, eq=False, repr=False)
    cached_view: MessageView | None = field(default=None, eq=False, repr=False)
    parent_id: str | None = None
    status: str = "complete"
    llm: LlmFields | None = None
    error: str | None = None
    # A generation's chunks folded so far (their text, to tell a repeat from a clash) and
    # the characters of its text with them; lengths count opened text, so are not compared.
    next_index: int = 0
    length: int = field(default=0, eq=False)
    # The characters of its start (a generation's first piece, posted with it): what its
    # posted event shows, the chunks showing the rest.
    opening: int = field(default=0, eq=False)
    # When it last moved (its start, then its newest chunk): a generation silent for too
    # long fails as timed out.
    active_at: datetime | None = field(default=None, eq=False, repr=False)
    chunks: list[str | None] = field(factory=list, eq=False, repr=False)
    # Its readers' ratings counted, up and down (ThreadState.ratings holds them by rater).
    up: int = 0
    down: int = 0

    def rated(self, ratings: Mapping[str, int] | None) -> None:
        """Count its ratings anew, so the next view shows them."""
        values = () if ratings is None else ratings.values()
        up = sum(1 for value in values if value > 0)
        down = len(values) - up
        if (up, down) != (self.up, self.down):
            self.up, self.down = up, down
            self.cached_view = None

    def drop_chunks(self) -> None:
        """Forget the chunks' own texts once a generation ends: only its whole text is read."""
        self.chunks = []

    def withdraw(self, *, redacted: bool = False, erased: bool = False) -> None:
        """Mark the content redacted or erased, so no later view shows it."""
        self.redacted = self.redacted or redacted
        self.erased = self.erased or erased
        self.cached_view = None

    def view(self, thread_id: str) -> MessageView:
        """Return the message as the API shows it, built once until it is withdrawn."""
        if self.cached_view is None:
            self.cached_view = self._build_view(thread_id)
        return self.cached_view

    def _build_view(self, thread_id: str) -> MessageView:
        withdrawn = self.redacted or self.erased
        return message_view(
            self.message_id,
            thread_id,
            self.seq,
            self.role,
            None if withdrawn else self.content,
            {} if withdrawn else self.metadata,
            self.author,
            self.created_at,
            self.request_id,
            redacted=self.redacted,
            erased=self.erased,
            parent_id=self.parent_id,
            status=self.status,
            llm=self.llm,
            error=self.error,
            feedback=(self.up, self.down),
        )


@define(kw_only=True)
class ThreadState:
    """A thread, its first and newest messages, and marks that find any other in its stream.

    Memory per thread is bounded: the FIRST oldest and the RECENT newest messages are kept
    (a page is at most 100; the default order starts at the oldest, a chat at the newest).
    Those between are read back from the stream when asked for, starting at the mark of
    their seq (the stream version of every STRIDE-th message). Redactions are remembered by
    id, so a message read back shows them; erasures show through the destroyed keys.
    """

    version: int = 0
    # Opens sealed messages as they are folded; without it they fold with no content.
    keys: KeyRing | None = field(default=None, eq=False, repr=False)
    thread_id: str | None = None
    tenant: str | None = None
    env: Env | None = None
    # The title and metadata as opened (None and {} once the creator is erased); equality
    # compares the key that sealed them, as MessageState compares a message's.
    title: str | None = field(default=None, eq=False)
    metadata: FrozenMap = field(factory=dict, eq=False)
    title_key_id: int | None = None
    # Whose words the title and the metadata are now (the creator's, or a later updater's),
    # and the key that sealed the metadata: an erasure of that person withdraws them.
    title_by: str | None = None
    metadata_by: str | None = None
    metadata_key_id: int | None = None
    created_at: datetime | None = None
    created_by: str | None = None
    # "tenant" or "private"; a private thread is seen by its creator, participants, agents.
    visibility: str = "tenant"
    participants: tuple[str, ...] = ()
    archived: bool = False
    # When a thread update last changed it; None until one does (it reads as created_at).
    updated_at: datetime | None = None
    forked_from: ForkedFrom | None = None
    message_count: int = 0
    # The id of the newest message: the parent of a post that names none.
    head: str | None = None
    first: list[MessageState] = field(factory=list)
    recent: list[MessageState] = field(factory=list)
    marks: array[int] = field(factory=lambda: array("q"))
    # The seq of each message's parent (0 for a root), at index seq - 1: the tree, in
    # 4 bytes a message, so a path or a list of children is walked without reading back.
    parents: array[int] = field(factory=lambda: array("i"))
    redacted: set[str] = field(factory=set)
    # Ids that do not name their own seq (made before ids did), so they are looked up here.
    unnamed: dict[str, int] = field(factory=dict)
    # Generations in progress, kept here whatever the lists above let go: their chunks fold
    # into them. Each ended one names the version of its end, to be read back whole.
    generating: dict[str, MessageState] = field(factory=dict)
    ended: dict[str, tuple[int, str]] = field(factory=dict)
    # The ratings of each rated message, by rater: 1 or -1 (a withdrawn one is dropped).
    ratings: dict[str, dict[str, int]] = field(factory=dict)
    # Messages withdrawn in place (by an erasure, which moves no version of the thread):
    # what was rendered from this state before then shows them no more.
    withdrawals: int = field(default=0, eq=False)
    # The summed size of the messages kept in memory (each counted once), and of the
    # rest of the state (its title and metadata with it).
    kept_bytes: int = field(default=0, eq=False)
    head_bytes: int = field(default=THREAD_BYTES, eq=False)

    @property
    def exists(self) -> bool:
        """Tell whether the thread was created."""
        return self.thread_id is not None

    @property
    def last_seq(self) -> int:
        """Return the seq of the newest message, 0 when there is none."""
        return self.message_count

    @property
    def first_recent_seq(self) -> int:
        """Return the seq of the oldest message kept in memory (last_seq + 1 when none is)."""
        return self.message_count - len(self.recent) + 1

    def seq_of(self, message_id: str) -> int | None:
        """Return the seq a message id names, or None when no message of it could have it."""
        seq = self.unnamed.get(message_id) or seq_in_message_id(message_id)
        return seq if seq is not None and 1 <= seq <= self.message_count else None

    def path_seqs(self, seq: int) -> list[int]:
        """Return the seqs from the root to the message at seq, root first."""
        parents = self.parents
        path: list[int] = []
        while seq > 0:
            path.append(seq)
            seq = parents[seq - 1]
        path.reverse()
        return path

    def children_seqs(self, seq: int) -> list[int]:
        """Return the seqs of the children of the message at seq, by seq."""
        parents = self.parents
        children: list[int] = []
        # A child comes after its parent; array.index scans in C, from there on.
        start = seq
        while True:
            try:
                found = parents.index(seq, start)
            except ValueError:
                return children
            children.append(found + 1)
            start = found + 1

    def kept_message(self, seq: int) -> MessageState | None:
        """Return the message at seq when it is among the first or recent ones kept in memory."""
        if 1 <= seq <= len(self.first):
            return self.first[seq - 1]
        index = seq - self.first_recent_seq
        return self.recent[index] if 0 <= index < len(self.recent) else None

    def kept_by_id(self, message_id: str) -> MessageState | None:
        """Return the message with this id when it is kept in memory, else None."""
        seq = self.seq_of(message_id)
        message = None if seq is None else self.kept_message(seq)
        return message if message is not None and message.message_id == message_id else None

    def holds(self, first: int, last: int) -> bool:
        """Tell whether every message with seq first..last (clipped) is kept in memory."""
        first, last = max(first, 1), min(last, self.message_count)
        return max(first, len(self.first) + 1) > min(last, self.first_recent_seq - 1)

    @property
    def size(self) -> int:
        """Return the bytes this state holds, as the thread cache's budget counts them."""
        return (
            self.head_bytes
            + self.kept_bytes
            + 8 * len(self.marks)
            + self.parents.itemsize * len(self.parents)
            + ID_BYTES * (len(self.redacted) + len(self.unnamed) + len(self.ended))
            + ID_BYTES * sum(1 + len(raters) for raters in self.ratings.values())
            + sum(message.size for message in self.generating.values())
        )

    def keep(self, message: MessageState) -> None:
        """Keep a message just folded: among the first while they run on from seq 1, and newest."""
        first = self.first
        if message.seq <= FIRST and message.seq == len(first) + 1:
            first.append(message)
        recent = self.recent
        recent.append(message)
        self.kept_bytes += message.size
        if len(recent) > RECENT:
            dropped = recent.pop(0)
            if dropped.seq > len(first):
                self.kept_bytes -= dropped.size

    def let_go(self) -> None:
        """Drop kept messages, the first ones while any is not also newest, else every one.

        What is dropped is read back from the stream when asked for, as the messages
        between the first and the newest always are; the thread's own fold stays.
        """
        recent_from = self.first_recent_seq
        if any(message.seq < recent_from for message in self.first):
            self.kept_bytes -= sum(m.size for m in self.first if m.seq < recent_from)
            self.first = []
        else:
            self.first, self.recent, self.kept_bytes = [], [], 0

    def take_back(self, found: list[MessageState]) -> bool:
        """Keep again messages read back that adjoin the first or newest kept; tell if any.

        found must run by seq without a gap (as read back, else nothing is taken); those
        that continue the first ones from seq 1, or reach back from the newest kept, are
        kept again within FIRST and RECENT, never twice.
        """
        if not found or any(m.seq != found[0].seq + i for i, m in enumerate(found)):
            return False
        low, high = found[0].seq, found[-1].seq
        taken: list[MessageState] = []
        start = len(self.first) + 1
        stop = min(FIRST, self.first_recent_seq - 1, high)
        if low <= start <= stop:
            taken += found[start - low : stop - low + 1]
            self.first.extend(found[start - low : stop - low + 1])
        end = self.first_recent_seq - 1
        begin = max(low, len(self.first) + 1, end - (RECENT - len(self.recent)) + 1)
        if begin <= end <= high:
            taken += found[begin - low : end - low + 1]
            self.recent[:0] = found[begin - low : end - low + 1]
        self.kept_bytes += sum(message.size for message in taken)
        return bool(taken)

    def kept(self) -> Iterator[MessageState]:
        """Yield each message kept in memory once (the two lists share messages at first)."""
        yield from self.first
        for message in self.recent:
            if message.seq > len(self.first):
                yield message

    def view(self) -> ThreadView:
        """Return the thread as the API shows it."""
        assert self.thread_id is not None and self.created_at is not None
        assert self.created_by is not None
        return ThreadView(
            id=self.thread_id,
            title=self.title,
            metadata=self.metadata,
            created_at=self.created_at,
            created_by=self.created_by,
            message_count=self.message_count,
            last_seq=self.last_seq,
            head=self.head,
            visibility=self.visibility,
            participants=self.participants,
            archived=self.archived,
            updated_at=self.updated_at or self.created_at,
            forked_from=forked_map(self.forked_from),
        )


@define(kw_only=True)
class TemperatureState:
    """The newest temperature config change of one tenant and env."""

    version: int = 0
    default: float = 0.0
    min: float = 0.0
    max: float = 0.0
    overrides: Mapping[str, float] = field(factory=dict)
    updated_at: datetime | None = None
    updated_by: str | None = None
