"""The fold: each recorded event moves a state on, opening sealed words with their author's key.

A state is only ever moved forward by events of its own stream, in version order, so it is
exactly the fold of its stream up to its version. An erasure is the one change made beside
the fold: it withdraws, in place, the words of cached states whose keys it destroyed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import orjson

from chat_core.generation_fold import GenerationEvent, apply_to_message
from chat_core.payloads import (
    MessageCancelled,
    MessageChunk,
    MessageCompleted,
    MessageFailed,
    MessagePosted,
    MessageRated,
    MessageRedacted,
    TemperatureConfigChanged,
    ThreadCreated,
    ThreadUpdated,
)
from chat_core.sealing import open_message, open_thread, open_thread_update, sealed_key_id
from chat_core.state import (
    STRIDE,
    THREAD_BYTES,
    MessageState,
    TemperatureState,
    ThreadState,
    message_bytes,
    metadata_bytes,
    names_seq,
)
from events.envelope import DatasetEvent, FrozenMap
from events.keys import KeyRing
from events.store.base import RecordedEvent

__all__ = [
    "Versioned",
    "apply_event",
    "erase_cached",
    "message_state",
    "message_subjects",
    "message_words",
    "thread_words",
    "update_words",
]

_NO_METADATA: FrozenMap = MappingProxyType({})


class Versioned(Protocol):
    """A state the fold moves on: it knows the version of the last event folded into it."""

    version: int


S = TypeVar("S", bound=Versioned)


def _thread_created(payload: ThreadCreated, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        state.thread_id = payload.thread_id
        state.tenant = event.tenant
        state.env = event.env
        state.title, state.metadata = thread_words(payload, event, state.keys)
        state.title_key_id = None if payload.sealed is None else sealed_key_id(payload.sealed)
        state.metadata_key_id = state.title_key_id
        state.title_by = state.metadata_by = event.actor
        state.created_at = event.occurred_at
        state.created_by = event.actor
        state.visibility = payload.visibility
        state.forked_from = payload.forked_from
        words = 0 if state.title is None else sys.getsizeof(state.title)
        state.head_bytes = THREAD_BYTES + words + metadata_bytes(state.metadata)


def thread_words(
    payload: ThreadCreated, event: DatasetEvent, keys: KeyRing | None
) -> tuple[str | None, FrozenMap]:
    """Return a thread's title and metadata: None and {} once its creator is erased."""
    if payload.sealed is None:
        # Schema 1, stored in clear before sealing: an erasure still hides it from reads.
        if keys is not None and keys.subject(event.tenant, event.actor).erased:
            return None, _NO_METADATA
        return payload.title, payload.metadata
    if keys is None:
        return None, _NO_METADATA
    opened = open_thread(
        keys,
        tenant=event.tenant,
        creator=event.actor,
        thread_id=payload.thread_id,
        sealed=payload.sealed,
    )
    return (None, _NO_METADATA) if opened is None else opened


def _thread_updated(payload: ThreadUpdated, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        words = payload.words
        if words:
            opened = update_words(payload, event, state.keys)
            key_id = None if payload.sealed is None else sealed_key_id(payload.sealed)
            if "title" in words:
                state.title = opened.get("title")  # type: ignore[assignment]
                state.title_by, state.title_key_id = event.actor, key_id
            if "metadata" in words:
                state.metadata = opened.get("metadata", _NO_METADATA)  # type: ignore[assignment]
                state.metadata_by, state.metadata_key_id = event.actor, key_id
            title = 0 if state.title is None else sys.getsizeof(state.title)
            state.head_bytes = THREAD_BYTES + title + metadata_bytes(state.metadata)
        if payload.archived is not None:
            state.archived = payload.archived
        if payload.participants is not None:
            state.participants = payload.participants
        state.updated_at = event.occurred_at


def update_words(
    payload: ThreadUpdated, event: DatasetEvent, keys: KeyRing | None
) -> dict[str, object]:
    """Return the title and metadata an update set, opened; {} once its updater is erased."""
    if payload.sealed is None:
        if keys is not None and keys.subject(event.tenant, event.actor).erased:
            return {}
        return {"title": payload.title, "metadata": payload.metadata}
    if keys is None:
        return {}
    opened = open_thread_update(
        keys,
        tenant=event.tenant,
        updater=event.actor,
        thread_id=payload.thread_id,
        sealed=payload.sealed,
    )
    return {} if opened is None else opened


def _message_posted(payload: MessagePosted, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        message = message_state(payload, event, state.keys, predecessor=state.head)
        state.head = payload.message_id
        seq = payload.seq
        _record_parent(state, payload)
        if (seq - 1) % STRIDE == 0:
            state.marks.append(event.version)
        if not names_seq(payload.message_id, seq):
            state.unnamed[payload.message_id] = seq
        state.message_count = seq
        if payload.withdrawn == "redacted":
            state.redacted.add(payload.message_id)
        state.keep(message)
        if message.status == "in_progress":
            state.generating[payload.message_id] = message


def _record_parent(state: ThreadState, payload: MessagePosted) -> None:
    """Note the seq of a message's parent at its own seq's place in the thread's tree."""
    parents, seq, parent = state.parents, payload.seq, payload.parent_id
    if len(parents) != seq - 1:
        # A log whose seqs do not run 1, 2, ... (edited underneath): roots fill the gap.
        if len(parents) >= seq:
            return
        parents.extend([0] * (seq - 1 - len(parents)))
    parents.append(seq - 1 if parent is None else state.seq_of(parent) or 0)


def _generation_step(payload: GenerationEvent, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        message = state.generating.get(payload.message_id)
        if message is None:
            return
        apply_to_message(message, event, state.keys)
        if message.status != "in_progress":
            del state.generating[payload.message_id]
            state.ended[payload.message_id] = (event.version, message.status)


def _message_redacted(payload: MessageRedacted, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        state.redacted.add(payload.message_id)
        message = state.kept_message(payload.seq)
        if message is not None and message.message_id == payload.message_id:
            message.withdraw(redacted=True)


def _message_rated(payload: MessageRated, state: object, event: DatasetEvent) -> None:
    if isinstance(state, ThreadState):
        message_id = payload.message_id
        ratings = state.ratings.setdefault(message_id, {})
        if payload.rating is None:
            ratings.pop(event.actor, None)
        else:
            ratings[event.actor] = payload.rating
        if not ratings:
            del state.ratings[message_id]
        for message in _kept_by_id(state, message_id):
            message.rated(ratings)


def _kept_by_id(state: ThreadState, message_id: str) -> list[MessageState]:
    """Return the message with this id wherever the state keeps it (one object, or none)."""
    seq = state.seq_of(message_id)
    found = [] if seq is None else [state.kept_message(seq)]
    found.append(state.generating.get(message_id))
    return list({id(m): m for m in found if m is not None and m.message_id == message_id}.values())


def _temperature_changed(
    payload: TemperatureConfigChanged, state: object, event: DatasetEvent
) -> None:
    if isinstance(state, TemperatureState):
        state.default = payload.default
        state.min = payload.min
        state.max = payload.max
        state.overrides = payload.overrides
        state.updated_at = event.occurred_at
        state.updated_by = event.actor


# What each payload class does to a state; a state ignores the types it does not fold.
_FOLDS: dict[type[Any], Callable[[Any, object, DatasetEvent], None]] = {
    ThreadCreated: _thread_created,
    ThreadUpdated: _thread_updated,
    MessagePosted: _message_posted,
    MessageRedacted: _message_redacted,
    MessageRated: _message_rated,
    MessageChunk: _generation_step,
    MessageCompleted: _generation_step,
    MessageCancelled: _generation_step,
    MessageFailed: _generation_step,
    TemperatureConfigChanged: _temperature_changed,
}


def apply_event(state: S, event: DatasetEvent) -> S:
    """Fold one event into a state, moving its version on."""
    payload = event.payload
    fold = _FOLDS.get(type(payload))
    if fold is not None:
        fold(payload, state, event)
    state.version = event.version
    return state


def message_state(
    payload: MessagePosted,
    event: DatasetEvent,
    keys: KeyRing | None,
    *,
    predecessor: str | None = None,
) -> MessageState:
    """Fold a posted message, opened with its author's key when keys are given.

    predecessor is the id of the message before it, its parent unless it names another.
    """
    author = payload.author or event.actor
    content, metadata, erased = message_words(payload, event, keys, author)
    sealed = payload.sealed
    llm = payload.llm
    opening = 0 if content is None or llm is None or llm.status is None else len(content)
    if content is None:
        words_json = 0
    elif sealed is not None:
        # The sealed text is base64 of the plaintext JSON (and a few bytes of header).
        words_json = len(sealed) * 3 // 4
    else:
        words_json = len(orjson.dumps({"content": content, "metadata": dict(metadata)}))
    return MessageState(
        message_id=payload.message_id,
        seq=payload.seq,
        role=payload.role,
        content=content,
        metadata=metadata,
        author=author,
        created_at=event.occurred_at,
        active_at=event.occurred_at,
        request_id=event.request_id,
        erased=erased,
        redacted=payload.withdrawn == "redacted",
        key_id=None if sealed is None else sealed_key_id(sealed),
        size=message_bytes(content, metadata, words_json),
        parent_id=predecessor if payload.parent_id is None else payload.parent_id,
        status="complete" if llm is None or llm.status is None else llm.status,
        llm=llm,
        # Characters so far count a generation's first piece, posted with its start.
        length=opening,
        opening=opening,
    )


def message_words(
    payload: MessagePosted,
    event: DatasetEvent,
    keys: KeyRing | None,
    author: str,
    *,
    keep: bool = False,
) -> tuple[str | None, FrozenMap, bool]:
    """Return a message's content, metadata and whether its author was erased.

    keep is open_message's: the search index reads a message before the fold does.
    """
    if payload.withdrawn is not None:
        # A fork's copy of a message withdrawn in its source: no words were copied. Like
        # words in clear, it reads erased once its author is, as erase_cached makes it.
        erased = payload.withdrawn == "erased" or (
            keys is not None and keys.subject(event.tenant, author).erased
        )
        return None, _NO_METADATA, erased
    if payload.sealed is None:
        # Schema 1, stored in clear before encryption: an erasure still hides it from reads.
        erased = keys is not None and keys.subject(event.tenant, author).erased
        return (None, _NO_METADATA, True) if erased else (payload.content, payload.metadata, False)
    if keys is None:
        return None, _NO_METADATA, False
    opened = open_message(
        keys,
        tenant=event.tenant,
        author=author,
        message_id=payload.message_id,
        sealed=payload.sealed,
        keep=keep,
    )
    if opened is None:
        return None, _NO_METADATA, True
    return opened[0], opened[1], False


def message_subjects(recorded: Iterable[RecordedEvent]) -> dict[tuple[str, str], int]:
    """Return the (tenant, author) of every message and thread whose keys a fold will need.

    Each maps to the newest key id the author's sealed words name (0 for none), so the
    key ring fetches a key another process made after this one cached the author's keys.
    """
    newest: dict[tuple[str, str], int] = {}
    for item in recorded:
        payload = item.event.payload
        if isinstance(
            payload, (MessagePosted, ThreadCreated, MessageChunk, MessageRated, ThreadUpdated)
        ):
            writer = payload.author if isinstance(payload, MessagePosted) else None
            author = (item.event.tenant, writer or item.event.actor)
            key_id = 0 if payload.sealed is None else sealed_key_id(payload.sealed)
            newest[author] = max(newest.get(author, 0), key_id)
    return newest


def erase_cached(states: Iterable[object], tenant: str, subject: str, through_key_id: int) -> int:
    """Withdraw, as erased, a subject's messages sealed under destroyed keys; return how many.

    A thread the subject created loses its title and metadata the same way.
    Changed in place, so a state an append is about to cache again is withdrawn too.
    Every thread of the tenant counts a withdrawal, whether it kept any of the subject's
    messages or not: what was rendered or read back from it before may show them.
    """
    count = 0
    for state in states:
        if not isinstance(state, ThreadState) or state.tenant != tenant:
            continue
        state.withdrawals += 1
        if state.title_by == subject and (
            state.title_key_id is None or state.title_key_id <= through_key_id
        ):
            state.title = None
        if state.metadata_by == subject and (
            state.metadata_key_id is None or state.metadata_key_id <= through_key_id
        ):
            state.metadata = _NO_METADATA
        # A generation's message may be let go from the lists while it is in progress.
        kept = {id(message): message for message in state.kept()}
        kept.update((id(message), message) for message in state.generating.values())
        for message in kept.values():
            if message.author != subject or message.erased:
                continue
            if message.key_id is None or message.key_id <= through_key_id:
                message.withdraw(erased=True)
                message.content, message.metadata = None, _NO_METADATA
                count += 1
    return count
