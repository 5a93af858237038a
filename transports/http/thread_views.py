"""PATCH /chat/threads/{thread_id}: a thread's title, metadata, archived flag, participants."""

from __future__ import annotations

from aiohttp import web
from attrs import frozen

from chat_core.commands import UpdateThread
from chat_core.tokens.claims import MAX_SUB_CHARS, sub_problem
from events.envelope import freeze_map
from transports.http.app_keys import AUTH, CONTEXT, CORE
from transports.http.chat_views import metadata_problems
from transports.http.problems import HTTPProblem
from transports.http.requests import (
    FieldErrors,
    check_length,
    decode_body,
    json_response,
    read_json,
    reject_query,
)

__all__ = ["MAX_PARTICIPANTS", "UpdateThreadBody", "routes"]

MAX_PARTICIPANTS = 100
MAX_SUB = MAX_SUB_CHARS
_FIELDS = ("title", "metadata", "archived", "participants")


@frozen(kw_only=True)
class UpdateThreadBody:
    """The body of PATCH /chat/threads/{thread_id}: any of its fields, at least one."""

    title: str | None = None
    metadata: dict[str, str] | None = None
    archived: bool | None = None
    participants: list[str] | None = None

    def problems(self) -> FieldErrors:
        """List what breaks the contract's bounds."""
        errors: FieldErrors = []
        check_length(errors, "title", self.title, 1, 200)
        if self.metadata is not None:
            metadata_problems(errors, self.metadata)
        participants = self.participants
        if participants is not None:
            if len(participants) > MAX_PARTICIPANTS:
                errors.append(("participants", f"takes at most {MAX_PARTICIPANTS} subjects"))
            for index, sub in enumerate(participants):
                # A token's sub as the verifier takes it, or it names no one who could ever
                # be let in (and may read, in a list, as someone it is not).
                if sub_problem(sub) is not None:
                    errors.append(
                        (
                            f"participants[{index}]",
                            f"must be a subject of 1 to {MAX_SUB} characters, unpadded,"
                            " without control characters",
                        )
                    )
        return errors


routes = web.RouteTableDef()


@routes.patch("/chat/threads/{thread_id}")
async def update_thread(request: web.Request) -> web.Response:
    """Change a thread: its creator or an admin; participants, the creator of a private one."""
    reject_query(request)
    data = await read_json(request, empty_is_object=True)
    if isinstance(data, dict):
        nulls = [
            (name, "must not be null") for name in _FIELDS if name in data and data[name] is None
        ]
        if nulls:
            raise HTTPProblem(422, "the body fails validation", errors=nulls)
    body = decode_body(data, UpdateThreadBody)
    if all(getattr(body, name) is None for name in _FIELDS):
        raise HTTPProblem(
            422,
            "the body names nothing to change",
            errors=[("$", "give at least one of: " + ", ".join(_FIELDS))],
        )
    participants = body.participants
    command = UpdateThread(
        context=request[CONTEXT],
        auth=request[AUTH],
        thread_id=request.match_info["thread_id"],
        title=body.title,
        metadata=None if body.metadata is None else freeze_map(body.metadata),
        archived=body.archived,
        participants=None if participants is None else tuple(dict.fromkeys(participants)),
    )
    thread = await request.app[CORE].bus.send(command)
    return json_response(200, thread.to_json())
