"""Stream names and ids: the tenant and env are part of every stream name."""

from __future__ import annotations

import re
import secrets

from chat_core.context import RequestContext

__all__ = [
    "THREAD_ID",
    "new_message_id",
    "new_thread_id",
    "temperature_stream",
    "thread_stream",
]

THREAD_ID = re.compile(r"th_[A-Za-z0-9_-]{1,64}")
MESSAGE_ID = re.compile(r"msg_[A-Za-z0-9_-]{1,64}")


def new_thread_id() -> str:
    """Make an opaque, unguessable thread id."""
    return "th_" + secrets.token_urlsafe(15)


def new_message_id() -> str:
    """Make an opaque, unguessable message id."""
    return "msg_" + secrets.token_urlsafe(15)


def thread_stream(context: RequestContext, thread_id: str) -> str:
    """Name the stream of a thread in the request's tenant and env."""
    return f"chat/{context.tenant}/{context.env.value}/{thread_id}"


def temperature_stream(context: RequestContext) -> str:
    """Name the stream of the temperature config of the request's tenant and env."""
    return f"temperature/{context.tenant}/{context.env.value}"
