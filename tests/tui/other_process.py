"""A session run in a process of its own, with the real runner, on the store named by `$BATON_TEST_DB` (a
file or a PostgreSQL URL, kept out of the command line): `python -m tests.tui.other_process FLOW`.

It prints `SESSION CHECKPOINT` once the session waits at its first checkpoint, then `done STATUS` when
it ends. The tests use it for what another person's session does while a screen is open here.
"""

from __future__ import annotations

import asyncio
import os
import sys

from baton.sessions.open import location_of, open_store
from tests.helpers import Session
from tests.tui.drive import GATED, REVIEWED

FLOWS = {"reviewed": REVIEWED, "gated": GATED}
ENV = "BATON_TEST_DB"


async def main(flow: str) -> int:
    store = await open_store(location_of(os.environ[ENV]))
    try:
        session = await Session.start(store, FLOWS[flow])  # type: ignore[arg-type]
        cp = await session.checkpoint(timeout=120)
        print(session.id, cp.checkpoint_id, flush=True)
        print("done", await session.finish(timeout=300), flush=True)
    finally:
        await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
