"""Thread management: a thread's title, metadata, archived flag and participants changed.

Who may change what is decided against the thread's fold, in its stream's order: the
creator or an admin (among those who may see the thread) changes the title, metadata and
archived flag; only the creator of a private thread changes its participants. A change
that changes nothing appends nothing and answers with the thread as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from chat_core.caches import ThreadCache
from chat_core.commands import UpdateThread
from chat_core.context import Role, has_role
from chat_core.errors import Conflict, Forbidden, ValidationFailed
from chat_core.payloads import ThreadUpdated
from chat_core.sealing import seal_thread_update
from chat_core.state import ThreadState, thread_stream
from chat_core.views import ThreadView
from chat_core.visibility import require_visible, visible_thread
from chat_core.writer import Job, StreamWriter
from events.bus import MessageBus
from events.keys import DataKey, KeyRing

__all__ = ["ThreadUpdates", "changed_words", "decide_update"]

Sealer = Callable[[Mapping[str, object]], str | None]


def changed_words(state: ThreadState, command: UpdateThread) -> dict[str, object]:
    """Return the title and metadata the command sets that differ from the thread's."""
    words: dict[str, object] = {}
    if command.title is not None and command.title != state.title:
        words["title"] = command.title
    if command.metadata is not None and dict(command.metadata) != dict(state.metadata):
        words["metadata"] = dict(command.metadata)
    return words


def decide_update(
    state: ThreadState, command: UpdateThread, seal: Sealer | None = None
) -> list[ThreadUpdated]:
    """Decide a thread update, or nothing when it changes nothing.

    seal returns the sealed form of the words it is given, None to keep them in clear.
    """
    context, auth = command.context, command.auth
    require_visible(state, context, auth)
    assert state.thread_id is not None
    creator = auth.sub == state.created_by
    if not creator and not has_role(auth, context.tenant, Role.ADMIN):
        raise Forbidden("only the thread's creator or an admin of the tenant may change it")
    participants = command.participants
    if participants is not None:
        if state.visibility != "private":
            raise ValidationFailed(
                "only a private thread has participants",
                [("participants", "only a private thread has participants")],
            )
        if not creator:
            raise Forbidden("only the thread's creator may change its participants")
        if participants == state.participants:
            participants = None
    archived = None if command.archived == state.archived else command.archived
    words = changed_words(state, command)
    if not words and archived is None and participants is None:
        return []
    sealed = None if not words or seal is None else seal(words)
    clear = sealed is None
    return [
        ThreadUpdated(
            thread_id=state.thread_id,
            words=tuple(sorted(words)),
            sealed=sealed,
            title=command.title if clear and "title" in words else None,
            metadata=command.metadata if clear and "metadata" in words else None,
            archived=archived,
            participants=participants,
        )
    ]


class ThreadUpdates:
    """Turn UpdateThread into a ThreadUpdated of the thread's stream, sealed by its updater."""

    def __init__(
        self,
        *,
        bus: MessageBus,
        writer: StreamWriter[ThreadState],
        threads: ThreadCache,
        keys: KeyRing | None,
        writing_key: Callable[[str, str], Awaitable[DataKey | None]],
    ) -> None:
        self._bus = bus
        self._writer = writer
        self._threads = threads
        self._keys = keys
        self._writing_key = writing_key

    def register(self) -> None:
        """Make this the bus's handler of thread updates."""
        self._bus.register(UpdateThread, self.update_thread)

    async def update_thread(self, command: UpdateThread) -> ThreadView:
        """Change a thread as the command asks, if the caller may; answer with the thread."""
        context, auth = command.context, command.auth
        await visible_thread(self._threads, context, auth, command.thread_id)
        tenant, updater, keys = context.tenant, auth.sub, self._keys
        key = await self._writing_key(tenant, updater)

        def seal(words: Mapping[str, object]) -> str | None:
            if keys is None or key is None:
                return None
            if not keys.still_live(tenant, updater, key):
                raise Conflict(
                    "the updater's words in this tenant were erased while this update was"
                    " in flight; nothing was recorded, and sending it again starts afresh"
                )
            return seal_thread_update(
                keys, key, tenant=tenant, updater=updater, thread_id=command.thread_id, words=words
            )

        stream = thread_stream(context, command.thread_id)
        job = Job(
            context=context,
            auth=auth,
            decision=lambda draft: decide_update(draft.state, command, seal),
            render=lambda _events: None,
            status=200,
            batchable=False,
        )
        await self._writer.run(stream, job)
        state = await self._threads.load(stream)
        return state.view()
