"""One thread's messages as a tree, folded from its events as an export shows them.

The export's records carry each payload opened with its author's key or withdrawn (see
export_view), so the tree never sees a sealed byte and never holds the words of a
redacted or erased message. The tree folds what the read models fold (chat_core.fold): a
post without a parent continues from the message before it, a generation's chunks make
its text and its end sets its status. What a dataset may show of it is decided in
chat_core.dataset_lines.
"""

from __future__ import annotations

from typing import Any

from attrs import define, field

from chat_core.payloads import (
    MessageCancelled,
    MessageChunk,
    MessageCompleted,
    MessageFailed,
    MessagePosted,
    MessageRated,
    MessageRedacted,
)

__all__ = ["FOLDED_TYPES", "MessageNode", "ThreadTree"]

# The event types the tree folds; a thread's other events change nothing in it.
FOLDED_TYPES = frozenset(
    {
        MessagePosted.event_type,
        MessageRated.event_type,
        MessageChunk.event_type,
        MessageCompleted.event_type,
        MessageCancelled.event_type,
        MessageFailed.event_type,
        MessageRedacted.event_type,
    }
)


@define(kw_only=True)
class MessageNode:
    """One message of a thread: its place in the tree, its words (None once withdrawn)."""

    message_id: str
    seq: int
    role: str
    parent_id: str | None
    content: str | None
    status: str
    position: int
    occurred_at: str
    model: str | None = None
    temperature: float | None = None
    tool_calls: list[dict[str, Any]] = field(factory=list)
    tool_call_id: str | None = None
    withdrawn: bool = False
    next_index: int = 0
    # Ratings by who gave them: 1 or -1.
    ratings: dict[str, int] = field(factory=dict)

    @property
    def shown(self) -> bool:
        """Tell whether a dataset may hold this message: complete, neither redacted nor erased."""
        return self.status == "complete" and not self.withdrawn and self.content is not None

    @property
    def score(self) -> int:
        """Return the ratings summed: ups less downs."""
        return sum(self.ratings.values())


class ThreadTree:
    """Fold a thread's events, in version order, into its messages by id."""

    def __init__(self, *, thread_id: str, tenant: str, env: str) -> None:
        self.thread_id = thread_id
        self.tenant = tenant
        self.env = env
        self.messages: dict[str, MessageNode] = {}
        self.head: str | None = None

    def add(
        self, event_type: str, position: int, occurred_at: str, data: dict[str, Any], actor: str
    ) -> None:
        """Fold one event given as its export record's type, position, time, payload, actor."""
        if event_type == MessagePosted.event_type:
            self._posted(position, occurred_at, data)
            return
        message = self.messages.get(data.get("message_id", ""))
        if message is None:
            return
        if event_type == MessageRated.event_type:
            # One rating per rater, the newest; None withdraws it.
            rater, rating = data.get("by", actor), data.get("rating")
            if rating is None:
                message.ratings.pop(rater, None)
            else:
                message.ratings[rater] = rating
        elif event_type == MessageRedacted.event_type:
            message.withdrawn, message.content = True, None
        elif message.status != "in_progress":
            return
        elif event_type == MessageChunk.event_type:
            self._chunk(message, data)
        elif event_type == MessageCompleted.event_type:
            message.status = "complete"
            message.tool_calls = list(data.get("tool_calls") or ())
        elif event_type == MessageCancelled.event_type:
            message.status = "cancelled"
        elif event_type == MessageFailed.event_type:
            message.status = "failed"

    def children(self) -> set[str]:
        """Return the ids of the messages that some message names as its parent."""
        return {m.parent_id for m in self.messages.values() if m.parent_id is not None}

    def path(self, message_id: str) -> list[MessageNode]:
        """Return the messages from the root to this one, root first."""
        path: list[MessageNode] = []
        node = self.messages.get(message_id)
        while node is not None and len(path) <= len(self.messages):
            path.append(node)
            node = None if node.parent_id is None else self.messages.get(node.parent_id)
        path.reverse()
        return path

    def _posted(self, position: int, occurred_at: str, data: dict[str, Any]) -> None:
        llm = data.get("llm") or {}
        withdrawn = bool(data.get("redacted") or data.get("erased"))
        content = data.get("content")
        message = MessageNode(
            message_id=data["message_id"],
            seq=data["seq"],
            role=data["role"],
            parent_id=data.get("parent_id") or self.head,
            content=None if withdrawn else content,
            status=llm.get("status") or "complete",
            position=position,
            occurred_at=occurred_at,
            model=llm.get("model"),
            temperature=llm.get("temperature"),
            tool_calls=list(llm.get("tool_calls") or ()),
            tool_call_id=llm.get("tool_call_id"),
            withdrawn=withdrawn,
        )
        self.messages[message.message_id] = message
        self.head = message.message_id

    def _chunk(self, message: MessageNode, data: dict[str, Any]) -> None:
        if data["index"] != message.next_index:
            return
        message.next_index += 1
        text = data.get("content")
        if text is None or message.withdrawn:
            # A chunk sealed under a destroyed key: the message's text is gone with it.
            message.withdrawn, message.content = True, None
            return
        message.content = (message.content or "") + text
