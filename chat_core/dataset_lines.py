"""What a dataset holds of a thread: its conversation paths, and its rated alternatives.

A path runs from the root to a message; a dataset shows only its complete messages that
are neither redacted nor erased (MessageNode.shown), and no path that ends in one it may
not show. Messages take the OpenAI chat fine-tuning shape: role and content, an
assistant's tool calls as {"id", "type": "function", "function": {"name", "arguments"}},
a tool answer's tool_call_id, and weight 0 on an assistant message rated down.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from attrs import frozen

from chat_core.dataset_tree import MessageNode, ThreadTree

__all__ = ["LeafWindow", "PathChoice", "chat_lines", "preference_lines", "shown_message"]

PathChoice = Literal["leaves", "heads"]


@frozen(kw_only=True)
class LeafWindow:
    """Which paths the time and position filters keep: by when their last message was posted."""

    after: int = 0
    before: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    def holds(self, message: MessageNode) -> bool:
        """Tell whether a message was posted within the window."""
        if message.position <= self.after:
            return False
        if self.before is not None and message.position >= self.before:
            return False
        if self.since is None and self.until is None:
            return True
        moment = datetime.fromisoformat(message.occurred_at)
        if self.since is not None and moment < self.since:
            return False
        return self.until is None or moment < self.until


def shown_message(message: MessageNode) -> dict[str, Any]:
    """Return a message as a dataset line shows it."""
    shown: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        shown["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": call["arguments"]},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        shown["tool_call_id"] = message.tool_call_id
    if message.role == "assistant" and message.score < 0:
        shown["weight"] = 0
    return shown


def chat_lines(
    tree: ThreadTree,
    *,
    paths: PathChoice = "leaves",
    window: LeafWindow | None = None,
    min_rating: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield a line per path the dataset keeps, ending at each leaf by seq (or at the head)."""
    if paths == "heads":
        ends = [] if tree.head is None else [tree.messages[tree.head]]
    else:
        parents = tree.children()
        ends = [m for m in tree.messages.values() if m.message_id not in parents]
        ends.sort(key=lambda message: message.seq)
    for leaf in ends:
        if not leaf.shown or (window is not None and not window.holds(leaf)):
            continue
        path = [message for message in tree.path(leaf.message_id) if message.shown]
        answer = _last_assistant(path)
        if min_rating is not None and (answer is None or answer.score < min_rating):
            continue
        yield {
            "messages": [shown_message(message) for message in path],
            "metadata": {
                "tenant": tree.tenant,
                "env": tree.env,
                "thread_id": tree.thread_id,
                "leaf_id": leaf.message_id,
                "model": None if answer is None else answer.model,
                "temperature": None if answer is None else answer.temperature,
            },
        }


def preference_lines(
    tree: ThreadTree, *, window: LeafWindow | None = None
) -> Iterator[dict[str, Any]]:
    """Yield a line per pair of sibling assistant messages, one rated up and one down."""
    siblings: dict[str | None, list[MessageNode]] = {}
    for message in tree.messages.values():
        if message.role == "assistant" and message.shown and message.score != 0:
            siblings.setdefault(message.parent_id, []).append(message)
    for parent_id in sorted(siblings, key=lambda name: _seq_of(tree, name)):
        if parent_id is not None and not tree.messages[parent_id].shown:
            continue
        rated = sorted(siblings[parent_id], key=lambda message: message.seq)
        ups = [message for message in rated if message.score > 0]
        downs = [message for message in rated if message.score < 0]
        if not ups or not downs:
            continue
        before = [] if parent_id is None else tree.path(parent_id)
        context = [shown_message(message) for message in before if message.shown]
        for up in ups:
            for down in downs:
                if window is not None and not (window.holds(up) or window.holds(down)):
                    continue
                yield {
                    "input": {"messages": context},
                    "preferred_output": [_output(up)],
                    "non_preferred_output": [_output(down)],
                }


def _output(message: MessageNode) -> dict[str, Any]:
    shown = shown_message(message)
    shown.pop("weight", None)
    return shown


def _last_assistant(path: list[MessageNode]) -> MessageNode | None:
    for message in reversed(path):
        if message.role == "assistant":
            return message
    return None


def _seq_of(tree: ThreadTree, message_id: str | None) -> int:
    return 0 if message_id is None else tree.messages[message_id].seq
