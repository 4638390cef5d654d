"""Waiting for a commit on a store that cannot announce one: look at its `data_version` every few
milliseconds (a cheap read that changes whenever another handle commits). The PostgreSQL store is told
instead (`sessions.pg_listen`); both answer `SessionStore.wait_for_change` the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

POLL_S = 0.025
"""How often a waiting reader looks at `data_version`."""


async def poll_for_change(
    version: Callable[[], Awaitable[int]], within: float, since: int | None = None, every: float = POLL_S
) -> int:
    """Wait until `version()` differs from `since` (None: from its value now) or `within` seconds pass;
    returns the version to pass next time. Which session changed is unknown here: any change wakes."""
    current = await version()
    if since is None:
        since = current
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while current == since:
        left = deadline - loop.time()
        if left <= 0:
            break
        await asyncio.sleep(min(every, left))
        current = await version()
    return current
