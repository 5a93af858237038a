"""A webhook worker's wait ends when it is cancelled, even as it is woken at that moment.

Python 3.11's asyncio.wait_for returns the awaited result instead of raising when a
cancellation meets it already done: a worker woken (a new event) as stop() cancelled it
ran on, and stop() waited for it forever (seen once in a clean-clone CI run, in
tests/webhooks/test_webhooks_durable.py, stuck in first.close()).
"""

from __future__ import annotations

import asyncio

from chat_core.webhooks.dispatcher import woken_within


async def test_a_loop_of_waits_cancelled_as_it_is_woken_ends() -> None:
    event = asyncio.Event()

    async def worker() -> None:  # as a webhook worker loops: wait, then look again
        while True:
            await woken_within(event, 10)
            event.clear()

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)  # the worker waits
    event.set()
    await asyncio.sleep(0)  # the event's waiter is done, the wait not told yet
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1)
    assert done == {task}
    assert task.cancelled()


async def test_a_wait_ends_when_woken_or_when_the_time_is_up() -> None:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await woken_within(event, 0.05)
    assert loop.time() - began >= 0.05
    loop.call_later(0.01, event.set)
    await asyncio.wait_for(woken_within(event, 30), 5)
    assert event.is_set()
