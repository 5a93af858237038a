"""Which threads a listing shows: the ones the caller may see that pass its filter."""

from __future__ import annotations

from attrs import frozen

from chat_core.context import AuthContext, RequestContext
from chat_core.state import ThreadState
from chat_core.visibility import may_see

__all__ = ["ThreadFilter", "listed"]


@frozen(kw_only=True)
class ThreadFilter:
    """What GET /chat/threads narrows to; the default shows the threads not archived."""

    # False: not archived (the default); True: archived only; None: both.
    archived: bool | None = False
    created_by: str | None = None
    # (key, value) pairs the metadata must all hold.
    metadata: tuple[tuple[str, str], ...] = ()


def listed(
    state: ThreadState, context: RequestContext, auth: AuthContext, wanted: ThreadFilter
) -> bool:
    """Tell whether a listing shows the thread: the caller may see it and it passes."""
    if not may_see(state, context, auth):
        return False
    if wanted.archived is not None and state.archived != wanted.archived:
        return False
    if wanted.created_by is not None and state.created_by != wanted.created_by:
        return False
    metadata = state.metadata
    return all(metadata.get(key) == value for key, value in wanted.metadata)
