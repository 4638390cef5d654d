"""Cancelling the runner's task at random awaits never leaves a transaction open.

The real host (lease, writer, command pump, runner) runs the crash-drill workflow in this process;
its task is cancelled after a random number of event-loop turns or a random delay, sometimes twice
(a second cancel landing in the clean-up). After each cancel the long-lived connection has no open
transaction and a second, plain sqlite3 connection can take the write lock and commit within 1 s.
The session is resumed until it completes and must end as an uninterrupted run does.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import sqlite3
from pathlib import Path

import pytest

from baton.core.llm.gateway import LiteLLMGateway
from baton.sessions.host import SessionHost
from baton.sessions.store import Store
from tests.e2e.kill_flow import harness as h

TRIALS = 30


def _second_writer(db: Path) -> None:
    conn = sqlite3.connect(str(db), timeout=1.0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO deltas (session_id, step, call_id, text) VALUES ('probe', '', '', 'x')")
        conn.execute("DELETE FROM deltas WHERE session_id = 'probe'")
        conn.execute("COMMIT")
    finally:
        conn.close()


async def _cancel_at_random(task: asyncio.Task[str], rng: random.Random) -> str:
    if rng.random() < 0.5:
        for _ in range(rng.randrange(0, 400)):
            await asyncio.sleep(0)
    else:
        await asyncio.sleep(rng.uniform(0, 0.4))
    if task.done():
        return "finished"
    task.cancel()
    if rng.random() < 0.3:
        for _ in range(rng.randrange(0, 40)):
            await asyncio.sleep(0)
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return "cancelled"


# A fan-out task cancelled before its first step never awaits the child coroutine it was given
# (core/runner/composite.py `_in_slot`): a RuntimeWarning at garbage collection, nothing is left open.
UNSTARTED_CHILD = "coroutine 'run_step' was never awaited"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.filterwarnings(f"ignore:{UNSTARTED_CHILD}:RuntimeWarning")
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <coroutine object run_step:pytest.PytestUnraisableExceptionWarning"
)
async def test_cancelling_the_runner_at_random_awaits_never_leaves_a_transaction_open(
    db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = int(os.environ.get("BATON_CANCEL_SEED", random.randrange(2**32)))
    print(f"cancel test seed: {seed}")
    rng = random.Random(seed)
    llm = LiteLLMGateway()
    store = await Store.open(db_path)
    try:
        monkeypatch.setenv("DRILL_COUNTER", str(tmp_path / "reference.counter"))
        ref_id = await asyncio.to_thread(h.create, db_path)
        assert await SessionHost(store, ref_id, llm=llm).run() == "completed"
        reference = await store.view(ref_id)

        monkeypatch.setenv("DRILL_COUNTER", str(tmp_path / "cancelled.counter"))
        sid = await asyncio.to_thread(h.create, db_path)
        cancels = finished = 0
        for trial in range(TRIALS * 3):
            task = asyncio.ensure_future(SessionHost(store, sid, llm=llm).run())
            outcome = await _cancel_at_random(task, rng)
            assert not store.conn.in_transaction, f"seed {seed}, trial {trial}: the connection kept a transaction"
            await asyncio.wait_for(asyncio.to_thread(_second_writer, db_path), 5)
            if outcome == "cancelled":
                cancels += 1
            view = await store.view(sid)
            if view.status == "completed":
                finished += 1
                if cancels >= TRIALS:
                    break
                sid = await asyncio.to_thread(h.create, db_path)
        assert cancels >= TRIALS, f"only {cancels} cancels landed"
        assert finished >= 1

        if view.status != "completed":
            assert await SessionHost(store, sid, llm=llm).run() == "completed"
            view = await store.view(sid)
        assert view.state == reference.state
        assert [e.seq for e in await store.events(sid)] == list(range(1, view.last_seq + 1))
        assert await store.lease(sid) is None
        assert h.integrity(db_path) == "ok"
    finally:
        await store.close()
        gc.collect()  # collect the unstarted children while this test's warning filter applies


LEFT_RUNNING = """
import asyncio, sys
from baton.core.runner import RunOptions
from baton.sessions.store import Store
from tests.helpers import Session

async def main() -> None:
    store = await Store.open(sys.argv[1])
    session = await Session.start(store, "gate", options=RunOptions())
    await session.checkpoint("approve_draft")
    print("runner waiting at the gate", flush=True)
    await store.close()

asyncio.run(main())
print("event loop closed", flush=True)
"""


def test_the_event_loop_can_shut_down_with_a_runner_still_running(tmp_path: Path, private_home: Path) -> None:
    """`asyncio.run` ending (or Ctrl-C) cancels every task at once, the writer's too: the runner's last
    commit must fail fast rather than wait forever for a writer that is gone."""
    import subprocess
    import sys

    from tests.conftest import ROOT, baton_env

    out = subprocess.run(
        [sys.executable, "-c", LEFT_RUNNING, str(tmp_path / "baton.db")],
        cwd=ROOT,
        env=baton_env(private_home, tmp_path / "baton.db"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "runner waiting at the gate" in out.stdout, out.stderr[-3000:]
    assert "event loop closed" in out.stdout, out.stderr[-3000:]
