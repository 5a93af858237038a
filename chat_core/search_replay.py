"""Rebuild the search index from the log, stream by stream, or compare it with the live one.

Each thread stream is folded with its authors' keys (the index holds opened words) and
asked, event by event, what it changes in the index (chat_core.search_index, the rule
appends follow); what is left at the stream's end is that thread's part of the index.
Rebuilding empties the index first and loads each thread's part after it; checking
compares each part with the store's (documents, and a posting for each word) and, at
the end, the number of documents and postings in all.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from chat_core.fold import apply_event, message_subjects
from chat_core.search_index import SearchIndexer
from chat_core.state import ThreadState
from events.crypto import BadMasterKey
from events.keys import KeyRing
from events.search.records import IndexDrop, IndexErase, IndexPut, SearchDoc, rank_key
from events.store.base import EventStore, RecordedEvent

__all__ = ["IndexReplay"]


class IndexReplay:
    """One replay's rebuild (or check) of the search index."""

    def __init__(
        self,
        store: EventStore,
        keys: KeyRing,
        *,
        check: bool,
        differs: Callable[[str], None],
    ) -> None:
        self._store = store
        self._keys = keys
        self._indexer = SearchIndexer(keys)
        self._check = check
        self._differs = differs
        self.documents = 0
        self._postings = 0
        # Why the index could not be rebuilt (the keys do not open), else None.
        self.skipped: str | None = None

    async def start(self) -> None:
        """Empty the index before a rebuild (a check leaves it be), if the keys open.

        Keys another master key wraps would leave the index half rebuilt: then it is
        left as it is, neither rebuilt nor checked, and skipped says why.
        """
        foreign = await self._keys.store.foreign_master(self._keys.master_id)
        if foreign is not None:
            self.skipped = (
                f"the data keys are wrapped by master key {foreign}, not the configured"
                f" {self._keys.master_id}"
            )
        elif not self._check:
            await self._store.clear_index()

    def new_state(self) -> ThreadState:
        """Return the state a thread stream folds into for the index: with its keys."""
        return ThreadState(keys=self._keys)

    async def prepare(self, batch: list[RecordedEvent]) -> bool:
        """Fetch the keys a batch of events needs opened; False once they cannot be."""
        if self.skipped is not None:
            return False
        try:
            await self._keys.prefetch(message_subjects(batch))
        except BadMasterKey as exc:
            # The log's words cannot be opened here: the index is neither rebuilt nor
            # checked (the rest of the replay goes on), and the reason is told.
            self.skipped = str(exc)
            return False
        return True

    def follow(self, state: ThreadState, item: RecordedEvent, docs: dict[str, SearchDoc]) -> None:
        """Apply one event's index changes to a thread's part, then fold it into state."""
        for change in self._indexer(state, [], [item.event]):
            if isinstance(change, IndexPut):
                doc = change.doc
                docs[doc.message_id] = attrs.evolve(doc, key=rank_key(doc.words, item.position))
            elif isinstance(change, IndexDrop):
                docs.pop(change.message_id, None)
            elif isinstance(change, IndexErase):
                for message_id, doc in list(docs.items()):
                    if doc.author == change.author and (
                        doc.key_id is None or doc.key_id <= change.through_key_id
                    ):
                        del docs[message_id]
        apply_event(state, item.event)

    async def finish(self, stream: str, state: ThreadState, docs: dict[str, SearchDoc]) -> None:
        """Load a thread's part of the index, or compare it with the store's."""
        if self.skipped is not None:
            return
        self.documents += len(docs)
        self._postings += sum(len(doc.terms) + 1 for doc in docs.values())
        if not self._check:
            await self._store.load_index(sorted(docs.values(), key=lambda doc: doc.key))
            return
        if state.thread_id is None or state.tenant is None or state.env is None:
            return
        live = await self._store.thread_index(state.tenant, state.env.value, state.thread_id)
        where = f"{stream}: search index"
        found: dict[str, SearchDoc] = {}
        for doc in live:
            if not doc.message_id:
                self._differs(f"{where}: a posting of the thread has no document")
            else:
                found[doc.message_id] = doc
        for message_id, doc in docs.items():
            stored = found.pop(message_id, None)
            if stored is None:
                self._differs(f"{where}: message {message_id} is missing")
            elif stored != doc:
                self._differs(f"{where}: message {message_id} differs from the log")
            else:
                missing = await self._store.missing_postings(doc)
                if missing:
                    self._differs(f"{where}: message {message_id} lacks {len(missing)} postings")
        for message_id in found:
            self._differs(f"{where}: message {message_id} is indexed but the log has it not")

    async def end(self) -> None:
        """Compare the index's size with the rebuilt one (a check only)."""
        if not self._check or self.skipped is not None:
            return
        documents, postings = await self._store.index_totals()
        if (documents, postings) != (self.documents, self._postings):
            self._differs(
                f"search index: holds {documents} documents and {postings} postings,"
                f" the log makes {self.documents} and {self._postings}"
            )
