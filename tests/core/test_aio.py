"""Stopping tasks for sure, even a task that swallows a cancellation (as `asyncio.wait_for` in Python 3.11
may when what it waits for completes as the cancellation arrives)."""

from __future__ import annotations

import asyncio

from baton.core.aio import stop_tasks


async def swallows_one_cancellation(started: asyncio.Event) -> None:
    started.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        pass  # lost, as a library's wait may lose it
    await asyncio.sleep(3600)


async def test_a_task_that_lost_its_cancellation_is_cancelled_again_until_it_ends() -> None:
    started = asyncio.Event()
    task = asyncio.create_task(swallows_one_cancellation(started))
    await started.wait()
    await asyncio.wait_for(stop_tasks([task], every=0.01), 30)
    assert task.cancelled()


async def test_one_cancellation_is_enough_for_a_task_that_keeps_it() -> None:
    task = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0)
    await stop_tasks([task], every=3600)  # no second round is needed: this returns at once
    assert task.cancelled()


async def test_tasks_already_done_are_left_as_they_are() -> None:
    task = asyncio.create_task(asyncio.sleep(0, result="done"))
    await task
    await stop_tasks([task])
    assert task.result() == "done"
