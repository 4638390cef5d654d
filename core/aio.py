"""Stopping asyncio tasks for sure.

A cancellation can be lost: `asyncio.wait_for` in Python 3.11 swallows one that arrives as what it waits
for completes, and libraries (the PostgreSQL pool among them) wait that way. A task that lost its
cancellation runs on — a loop for ever, a step on to a checkpoint nobody will answer — so whoever stops
tasks and then waits for them cancels again until they end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any


async def stop_tasks(tasks: Sequence[asyncio.Future[Any]], every: float = 0.5) -> None:
    """Cancel `tasks` and wait until they end, cancelling again any still running after `every` seconds."""
    pending = [t for t in tasks if not t.done()]
    while pending:
        for task in pending:
            task.cancel()
        _, still = await asyncio.wait(pending, timeout=every)
        pending = list(still)
    await asyncio.gather(*tasks, return_exceptions=True)
