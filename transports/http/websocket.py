"""The chat WebSocket: subscribe, unsubscribe, post and a generation's chunk, complete and
cancel over one socket, one reply per frame.

Over 300 lines because a socket's session is one concept: its frames, its subscriptions
and the closing of the socket share the session's state, and parsing lives in ws_frames.

A frame that does work (subscribe, post, chunk, complete, cancel) spends one request of
the tenant's budget, as an HTTP request does; past it the reply is a 429 error with
`retry_after` (whole seconds) and the socket stays open.

Close codes: 4400 bad context headers, 4401 bad or expired token or ticket, 4403 not a
member or a ticket bound to another thread, 4408 a slow consumer cut off (resubscribe with
`after`), 1001 the server is shutting down.

A subscription to a private thread whose participants change to leave the caller out ends
before that change: an error frame (id null, status 404, the thread_id) says so, and the
socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from chat_core.commands import PostMessage
from chat_core.context import RequestContext, new_request_id
from chat_core.errors import ChatError
from chat_core.hub import HubStopped, SlowConsumer, Subscription, follow_stream
from chat_core.ratelimit import OverRate
from chat_core.views import Replay
from chat_core.visibility import UNKNOWN_THREAD
from transports.http.app_keys import (
    AUTH,
    CONTEXT,
    CORE,
    HUB,
    LIMITER,
    RENDERER,
    SOCKETS,
    STREAMS,
    TICKET,
)
from transports.http.problems import (
    HTTPProblem,
    chat_error_status,
    error_response,
    problem_extensions,
)
from transports.http.stream_common import check_thread, seconds_left, shut_out
from transports.http.ws_frames import (
    Frame,
    FrameId,
    generation_frame,
    parse_frame,
    post_frame,
    subscribe_frame,
)

__all__ = ["WS_PATH", "refusal", "routes"]

WS_PATH = "/chat/ws"
CLOSE_SLOW = 4408
MAX_REASON = 120

routes = web.RouteTableDef()
log = logging.getLogger("transports.http.websocket")


class _Close(Exception):
    """End the socket with a close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _is_upgrade(request: web.Request) -> bool:
    match = request.match_info
    return (
        request.method == "GET"
        and match.http_exception is None
        and match.route.resource is not None
        and match.route.resource.canonical == WS_PATH
        and request.headers.get("Upgrade", "").lower() == "websocket"
    )


async def _close_now(request: web.Request, code: int, reason: str) -> web.WebSocketResponse:
    socket = web.WebSocketResponse()
    await socket.prepare(request)
    await socket.close(code=code, message=reason.encode()[:MAX_REASON])
    return socket


async def refusal(request: web.Request, request_id: str, error: Exception) -> web.StreamResponse:
    """Answer what a request raised: a refused upgrade to /chat/ws as a socket closed with
    4400, 4401 or 4403, anything else as problem+json.

    Browsers never see the status of a failed upgrade, only a close code; the refusal
    itself still comes from the one gate (admission.admit).
    """
    if (
        isinstance(error, HTTPProblem)
        and error.status in (400, 401, 403)
        and _is_upgrade(request)
        and web.WebSocketResponse().can_prepare(request).ok
    ):
        try:
            return await _close_now(request, 4000 + error.status, error.detail)
        except Exception as failure:  # the socket failed: answer in HTTP
            return error_response(request_id, failure)
    return error_response(request_id, error)


@routes.get(WS_PATH)
async def chat_socket(request: web.Request) -> web.StreamResponse:
    """Serve the chat WebSocket."""
    if set(request.query) - {"ticket"}:
        raise HTTPProblem(400, "unknown query parameter on /chat/ws")
    streams = request.app[STREAMS]
    socket = web.WebSocketResponse(
        heartbeat=streams.heartbeat,
        max_msg_size=request.app[CORE].settings.max_body,
        compress=False,
    )
    if not socket.can_prepare(request).ok:
        raise HTTPProblem(400, "GET /chat/ws takes a WebSocket upgrade")
    await socket.prepare(request)
    sockets = request.app[SOCKETS]
    sockets.add(socket)
    try:
        await _Session(request, socket).run()
    finally:
        sockets.discard(socket)
    return socket


class _Session:
    """One socket's subscriptions and the replies to its frames."""

    def __init__(self, request: web.Request, socket: web.WebSocketResponse) -> None:
        self._request = request
        self._socket = socket
        self._follows: dict[str, tuple[Subscription, asyncio.Task[None]]] = {}
        self._sending = False
        # Tasks closing the socket are awaited, never cancelled, so the close completes.
        self._closers: set[asyncio.Task[Any]] = set()
        self._ops: dict[str, Callable[[Frame], Awaitable[dict[str, Any]]]] = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "post": self._post,
            "chunk": self._generation,
            "complete": self._generation,
            "cancel": self._generation,
        }

    async def run(self) -> None:
        """Answer frames until the socket closes, then drop every subscription."""
        expiry = None
        left = seconds_left(self._request)
        if left is not None:
            expiry = asyncio.create_task(self._expire(left))
        try:
            async for message in self._socket:
                if message.type == WSMsgType.TEXT:
                    await self._answer(message.data)
                elif message.type == WSMsgType.BINARY:
                    await self._error(None, 400, "frames must be JSON text")
        finally:
            if expiry is not None:
                await self._finish(expiry)
            for thread_id in list(self._follows):
                await self._stop_following(thread_id)

    async def _expire(self, left: float) -> None:
        await asyncio.sleep(left)
        await self._close(4401, "the token expired")

    async def _answer(self, raw: str) -> None:
        frame_id: FrameId = None
        try:
            frame = parse_frame(raw)
            frame_id = frame.id
            op = self._ops.get(frame.op)
            if op is None:
                raise HTTPProblem(
                    400,
                    "op must be one of: cancel, chunk, complete, post, subscribe, unsubscribe",
                )
            reply = await op(frame)
        except HTTPProblem as problem:
            await self._error(frame_id, problem.status, problem.detail)
        except ChatError as error:
            extra = problem_extensions(error) or {}
            await self._error(frame_id, chat_error_status(error), str(error), **extra)
        except OverRate as over:
            await self._error(frame_id, 429, str(over), retry_after=over.retry_after)
        except _Close as close:
            await self._close(close.code, close.reason)
        except Exception:
            log.exception("a WebSocket frame failed")
            await self._error(frame_id, 500, "the server failed to answer this frame")
        else:
            await self._send(orjson.dumps({"op": "ack", "id": frame_id, **reply}))

    async def _stream_of(self, thread_id: str) -> str:
        try:
            return await check_thread(self._request, thread_id)
        except HTTPProblem as problem:
            if problem.status == 403:
                raise _Close(4403, problem.detail) from None
            raise

    async def _subscribe(self, frame: Frame) -> dict[str, Any]:
        wanted = subscribe_frame(frame)
        if wanted.thread_id in self._follows:
            raise HTTPProblem(409, "already subscribed to this thread")
        self._spend()
        stream = await self._stream_of(wanted.thread_id)
        subscription = self._request.app[HUB].open(stream, self._request.app[STREAMS].buffer)
        subscription.on_cut = self._on_cut
        task = asyncio.create_task(self._pump(wanted.thread_id, subscription, wanted.after))
        self._follows[wanted.thread_id] = (subscription, task)
        return {"thread_id": wanted.thread_id, "after": wanted.after}

    async def _unsubscribe(self, frame: Frame) -> dict[str, Any]:
        if set(frame.fields) - {"thread_id"}:
            raise HTTPProblem(422, "the frame fails validation")
        thread_id = frame.fields.get("thread_id")
        if not isinstance(thread_id, str) or thread_id not in self._follows:
            raise HTTPProblem(404, "not subscribed to this thread")
        await self._stop_following(thread_id)
        return {"thread_id": thread_id}

    async def _post(self, frame: Frame) -> dict[str, Any]:
        wanted = post_frame(frame)
        ticket = self._request.get(TICKET)
        if ticket is not None and ticket.thread_id not in (None, wanted.thread_id):
            raise _Close(4403, "the stream ticket is bound to another thread")
        self._spend()
        command = PostMessage(
            context=self._frame_context(),
            auth=self._request[AUTH],
            thread_id=wanted.thread_id,
            role=wanted.body.role,
            content=wanted.body.content or "",
            metadata=wanted.body.metadata,
            idempotency=wanted.idempotency,
            parent_id=wanted.body.parent_id,
            llm=wanted.body.llm(),
        )
        result = await self._request.app[CORE].bus.send(command)
        if isinstance(result, Replay):
            return {"message": orjson.loads(result.body), "replayed": True}
        return {"message": result.to_json()}

    async def _generation(self, frame: Frame) -> dict[str, Any]:
        """Take a generation's step (chunk, complete, cancel) as its HTTP route would."""
        thread_id = frame.fields.get("thread_id")
        ticket = self._request.get(TICKET)
        if ticket is not None and ticket.thread_id not in (None, thread_id):
            raise _Close(4403, "the stream ticket is bound to another thread")
        self._spend()
        command = generation_frame(frame, self._frame_context(), self._request[AUTH])
        result = await self._request.app[CORE].bus.send(command)
        if isinstance(result, Replay):
            return {"message": orjson.loads(result.body), "replayed": True}
        key = "chunk" if frame.op == "chunk" else "message"
        return {key: result.to_json()}

    def _frame_context(self) -> RequestContext:
        """A frame is a request of its own: the socket's tenant and env, a new request id, and
        the trace the upgrade request's traceparent named, if it named one."""
        socket = self._request[CONTEXT]
        request_id = new_request_id()
        traced = socket.trace_id != socket.request_id
        return RequestContext(
            tenant=socket.tenant,
            env=socket.env,
            request_id=request_id,
            trace_id=socket.trace_id if traced else request_id,
        )

    def _spend(self) -> None:
        """Spend one request of the tenant's budget, else raise OverRate."""
        limiter = self._request.app.get(LIMITER)
        if limiter is not None:
            limiter.spend(self._request[CONTEXT].tenant)

    async def _pump(self, thread_id: str, subscription: Subscription, after: int) -> None:
        renderer = self._request.app[RENDERER]
        store = self._request.app[CORE].store
        try:
            async for item in follow_stream(store, subscription, after_version=after):
                if item is None:
                    continue
                if await shut_out(self._request, item):
                    await self._left_out(thread_id)
                    return
                await self._send(await renderer.ws_frame(thread_id, item))
        except SlowConsumer:
            await self._close(CLOSE_SLOW, f"slow consumer on {thread_id}; resubscribe with after")
        except HubStopped:
            await self._close(WSCloseCode.GOING_AWAY, "the server is shutting down")
        except ConnectionError:
            pass

    async def _left_out(self, thread_id: str) -> None:
        """End a subscription the thread's participants no longer let the caller hold: from
        here on the thread answers as an unknown one, and the socket stays open."""
        subscription, _task = self._follows.pop(thread_id)
        self._request.app[HUB].release(subscription)
        await self._error(None, 404, UNKNOWN_THREAD, thread_id=thread_id)

    async def _stop_following(self, thread_id: str) -> None:
        subscription, task = self._follows.pop(thread_id)
        self._request.app[HUB].release(subscription)
        await self._finish(task)

    async def _finish(self, task: asyncio.Task[Any]) -> None:
        if task not in self._closers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def _on_cut(self) -> None:
        transport = self._request.transport
        if self._sending and transport is not None:
            transport.abort()

    async def _send(self, data: bytes) -> None:
        if self._socket.closed:
            return
        self._sending = True
        try:
            await self._socket.send_frame(data, WSMsgType.TEXT)
        finally:
            self._sending = False

    async def _error(self, frame_id: FrameId, status: int, detail: str, **extra: Any) -> None:
        reply = {"op": "error", "id": frame_id, "status": status, "detail": detail, **extra}
        await self._send(orjson.dumps(reply))

    async def _close(self, code: int, reason: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._closers.add(task)
        await self._socket.close(code=code, message=reason.encode()[:MAX_REASON])
