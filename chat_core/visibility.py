"""Who may see a thread: the one rule every read and write of a thread goes through.

A thread of the tenant is seen by every member of its tenant and env; a private one only
by its creator, its participants and agent tokens. To anyone else, admins included, a
private thread is exactly an unknown one: the same NotFound, raised at the same step.
"""

from __future__ import annotations

from collections.abc import Collection

from chat_core.caches import ThreadCache
from chat_core.context import AuthContext, RequestContext, Role, has_role, require_role
from chat_core.errors import NotFound
from chat_core.payloads import ThreadUpdated
from chat_core.state import ThreadState, require_thread_id, thread_stream
from events.envelope import DatasetEvent

__all__ = [
    "UNKNOWN_THREAD",
    "facts_visible",
    "may_see",
    "require_visible",
    "shuts_out",
    "visible_thread",
]

# The one detail an unknown, another tenant's and a hidden private thread all answer with.
UNKNOWN_THREAD = "no such thread in this tenant and env"


def may_see(state: ThreadState, context: RequestContext, auth: AuthContext) -> bool:
    """Decide whether the caller may see the thread (it exists, here, and is theirs to see)."""
    if not state.exists or state.tenant != context.tenant or state.env != context.env:
        return False
    return facts_visible(state.visibility, state.created_by, state.participants, context, auth)


def facts_visible(
    visibility: str,
    created_by: str | None,
    participants: Collection[str],
    context: RequestContext,
    auth: AuthContext,
) -> bool:
    """Decide whether the caller may see a thread of their tenant and env with these facts."""
    # Fails closed: a thread open to its tenant says so, anything else is private.
    if visibility == "tenant":
        return True
    sub = auth.sub
    return sub == created_by or sub in participants or has_role(auth, context.tenant, Role.AGENT)


def require_visible(state: ThreadState, context: RequestContext, auth: AuthContext) -> None:
    """Raise NotFound unless the caller may see the thread."""
    if not may_see(state, context, auth):
        raise NotFound(UNKNOWN_THREAD)


async def visible_thread(
    threads: ThreadCache, context: RequestContext, auth: AuthContext, thread_id: str
) -> ThreadState:
    """Return the thread's state if the caller is a member who may see it, else raise."""
    require_role(context, auth)
    require_thread_id(thread_id)
    state = await threads.load(thread_stream(context, thread_id))
    require_visible(state, context, auth)
    return state


def shuts_out(
    state: ThreadState, event: DatasetEvent, context: RequestContext, auth: AuthContext
) -> bool:
    """Tell whether an event of the thread leaves the caller outside it from then on.

    Only a change of a private thread's participants can: one that leaves out the caller
    (no creator, agent or participant) shuts them out, unless the thread's state, folded
    past that event, lets them in again. A stream that follows the thread ends there.
    """
    payload = event.payload
    if type(payload) is not ThreadUpdated or payload.participants is None:
        return False
    if state.visibility == "tenant" or auth.sub in payload.participants:
        return False
    if auth.sub == state.created_by or has_role(auth, context.tenant, Role.AGENT):
        return False
    return not (state.version > event.version and may_see(state, context, auth))
