"""Write branched chat logs through the real core for the dataset export tests."""

from __future__ import annotations

import uuid
from typing import Any

from chat_core.bootstrap import ChatCore
from chat_core.commands import (
    AppendChunk,
    CancelMessage,
    CompleteMessage,
    CreateThread,
    EraseSubject,
    FailMessage,
    PostMessage,
    RedactMessage,
)
from chat_core.context import AuthContext, RequestContext, Role
from chat_core.payloads import LlmFields, ToolCall
from chat_core.views import MessageView, ThreadView
from events.envelope import Env

__all__ = ["ERASED_WORDS", "WITHDRAWN_WORDS", "Conversation", "write_branched_log"]

TENANTS = ("t_acme", "t_globex")
ADA = AuthContext(sub="u_ada", memberships={t: frozenset({Role.MEMBER}) for t in TENANTS})
BOB = AuthContext(sub="u_bob", memberships={t: frozenset({Role.MEMBER}) for t in TENANTS})
AGENT = AuthContext(sub="u_agent", memberships={t: frozenset({Role.AGENT}) for t in TENANTS})
ADMIN = AuthContext(sub="u_root", memberships={t: frozenset({Role.ADMIN}) for t in TENANTS})
# Words of the erased subject, and of a redacted message, that no dataset may hold.
ERASED_WORDS = "zebra crossing secret"
WITHDRAWN_WORDS = ("hunter2", "redact me please", ERASED_WORDS)


class Conversation:
    """Post to one thread of a tenant and env through the core's bus, keeping the ids."""

    def __init__(self, core: ChatCore, tenant: str, env: Env) -> None:
        self.core = core
        self.tenant = tenant
        self.env = env
        self.thread_id = ""

    def context(self) -> RequestContext:
        """Return a fresh request context of this tenant and env."""
        return RequestContext(
            tenant=self.tenant, env=self.env, request_id=f"req-{uuid.uuid4().hex[:12]}"
        )

    async def open(self) -> Conversation:
        """Create the thread."""
        thread = await self.core.bus.send(
            CreateThread(context=self.context(), auth=ADA, title="dataset")
        )
        assert isinstance(thread, ThreadView)
        self.thread_id = thread.id
        return self

    async def post(
        self,
        auth: AuthContext,
        role: str,
        content: str,
        *,
        parent: str | None = None,
        llm: LlmFields | None = None,
    ) -> str:
        """Post a message and return its id."""
        message = await self.core.bus.send(
            PostMessage(
                context=self.context(),
                auth=auth,
                thread_id=self.thread_id,
                role=role,
                content=content,
                parent_id=parent,
                llm=llm,
            )
        )
        assert isinstance(message, MessageView)
        return message.id

    async def generate(self, parent: str, chunks: list[str], end: str, **llm: Any) -> str:
        """Start an assistant reply under parent, stream its chunks, then end it."""
        message_id = await self.post(
            AGENT, "assistant", "", parent=parent, llm=LlmFields(status="in_progress", **llm)
        )
        target = {"thread_id": self.thread_id, "message_id": message_id, "auth": AGENT}
        for index, text in enumerate(chunks):
            await self.core.bus.send(
                AppendChunk(context=self.context(), index=index, content=text, **target)
            )
        if end == "complete":
            await self.core.bus.send(
                CompleteMessage(context=self.context(), finish_reason="stop", **target)
            )
        elif end == "cancel":
            await self.core.bus.send(CancelMessage(context=self.context(), **target))
        elif end == "fail":
            await self.core.bus.send(FailMessage(context=self.context(), error="boom", **target))
        return message_id

    async def redact(self, message_id: str) -> None:
        """Redact a message as its author's admin would."""
        await self.core.bus.send(
            RedactMessage(
                context=self.context(), auth=ADMIN, thread_id=self.thread_id, message_id=message_id
            )
        )


async def write_branched_log(core: ChatCore) -> dict[str, str]:
    """Write three threads with branches, generations, a redaction and an erasure.

    Return the ids by name: th1/th2/th3 for the threads, and each message's name.
    """
    ids: dict[str, str] = {}
    one = await Conversation(core, "t_acme", Env.DEV).open()
    ids["th1"] = one.thread_id
    ids["sys"] = await one.post(AGENT, "system", "You are terse.")
    ids["q1"] = await one.post(ADA, "user", "What is 2+2?")
    gpt = {"model": "gpt-x", "temperature": 0.5}
    ids["a1"] = await one.post(AGENT, "assistant", "4", llm=LlmFields(**gpt))
    ids["a2"] = await one.post(
        AGENT, "assistant", "four", parent=ids["q1"], llm=LlmFields(model="gpt-y", temperature=0.7)
    )
    ids["q2"] = await one.post(ADA, "user", "And 3+3?", parent=ids["a1"])
    ids["a3"] = await one.generate(ids["q2"], ["6", " it is"], "complete", **gpt)
    ids["a4"] = await one.generate(ids["q2"], ["six, cancelled"], "cancel", **gpt)
    ids["a5"] = await one.generate(ids["q2"], ["half"], "fail", **gpt)
    ids["a7"] = await one.generate(ids["q2"], ["still going"], "none", **gpt)
    ids["e1"] = await one.post(BOB, "user", ERASED_WORDS, parent=ids["a2"])
    ids["r1"] = await one.post(ADA, "user", "redact me please", parent=ids["a1"])
    await one.redact(ids["r1"])
    ids["a6"] = await one.post(AGENT, "assistant", "noted", parent=ids["e1"], llm=LlmFields(**gpt))
    await core.bus.send(EraseSubject(context=one.context(), auth=ADMIN, subject="u_bob"))
    ids["after_one"] = str(await core.store.head_position())

    two = await Conversation(core, "t_acme", Env.PROD).open()
    ids["th2"] = two.thread_id
    ids["w1"] = await two.post(ADA, "user", "Weather in Paris?")
    call = ToolCall(id="call_1", name="weather", arguments='{"city": "Paris"}')
    ids["w2"] = await two.post(
        AGENT, "assistant", "", llm=LlmFields(model="gpt-x", tool_calls=(call,))
    )
    ids["w3"] = await two.post(AGENT, "tool", "18C", llm=LlmFields(tool_call_id="call_1"))
    ids["w4"] = await two.post(AGENT, "assistant", "It is 18C.", llm=LlmFields(model="gpt-x"))

    three = await Conversation(core, "t_globex", Env.DEV).open()
    ids["th3"] = three.thread_id
    ids["g1"] = await three.post(ADA, "user", "hello globex")
    ids["g2"] = await three.post(ADA, "user", "my password is hunter2")
    await three.redact(ids["g2"])
    ids["g3"] = await three.post(AGENT, "assistant", "Noted.")
    return ids
