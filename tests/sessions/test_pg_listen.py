"""Waking on `LISTEN/NOTIFY` on a real PostgreSQL server (`tests/sessions/pg_server.py`): a waiter wakes
when another process commits for its session (and a waiter on another session does not), a wait runs
out when nothing is committed, the listener comes back after an administrator ends its connection
(`pg_terminate_backend`) and wakes its waiters to read again, and no log line shows the DSN's password.
A viewer's bus and the inbox wake on it too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import psycopg
import pytest

from baton.core import events as ev
from baton.sessions.app.inbox import watch
from baton.sessions.bus import StoreBus
from baton.sessions.pg_dsn import shown_dsn
from baton.sessions.pg_listen import Listener
from baton.sessions.pg_store import PgStore
from tests.conftest import ROOT
from tests.sessions.pg_server import PASSWORD, shared_server

WAIT_S = 60.0
"""Far longer than a wake-up takes: a wait that runs this long means the notification was lost."""

_COMMIT = textwrap.dedent(
    """
    import asyncio, os, sys
    from baton.core import events as ev
    from baton.sessions import projection
    from baton.sessions.pg_store import PgStore

    async def main() -> None:
        store = await PgStore.open(os.environ["TEST_DSN"])
        try:
            sid = sys.argv[1]
            seq = await store.last_seq(sid) + 1
            batch = [ev.StepStarted(step="s")]
            if sys.argv[2] == "checkpoint":
                batch.append(ev.CheckpointOpened(step="s", checkpoint_id="s:review", reason="review",
                                                 options=["approve", "reject"]))
            await store.append(sid, seq, batch)
            await projection.rebuild(store, sid)  # as the runner's writer does right after a checkpoint
        finally:
            await store.close()

    asyncio.run(main())
    """
)


@pytest.fixture
def dsn() -> str:
    """A fresh database's URL (password included)."""
    return shared_server().create_database()


@pytest.fixture
async def store(dsn: str) -> AsyncIterator[PgStore]:
    """A store on that database."""
    opened = await PgStore.open(dsn)
    try:
        yield opened
    finally:
        await opened.close()


async def _session(store: PgStore) -> str:
    return await store.create_session(
        "w", workflow_path="/w.yaml", workflow_hash="h", workflow_text="", inputs={}, options={}
    )


async def _commit_from_another_process(dsn: str, session_id: str, what: str = "step") -> None:
    """A separate Python process opens the store and commits one batch for `session_id`."""
    env = {**os.environ, "TEST_DSN": dsn, "PYTHONPATH": str(ROOT)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _COMMIT, session_id, what, env=env, cwd=ROOT, stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


def _listener(store: PgStore) -> Listener:
    assert store._listener is not None, "the listener starts on the first wait"
    return store._listener


async def test_a_waiter_wakes_on_a_commit_from_another_process_and_a_waiter_on_another_session_does_not(
    store: PgStore, dsn: str
) -> None:
    mine, theirs = await _session(store), await _session(store)
    mark = await store.wait_for_change(mine, 0)
    mine_waits = asyncio.ensure_future(store.wait_for_change(mine, WAIT_S, mark))
    theirs_waits = asyncio.ensure_future(store.wait_for_change(theirs, WAIT_S, mark))
    anyone_waits = asyncio.ensure_future(store.wait_for_change(None, WAIT_S, mark))
    await _commit_from_another_process(dsn, mine)
    woke = await mine_waits
    assert woke > mark, "woken by the notification, not by running out of time"
    assert await anyone_waits > mark
    assert [e.event.kind for e in await store.events(mine)] == ["StepStarted"]
    for _ in range(5):
        await asyncio.sleep(0)  # both waiters were told in the same breath, had it been for both
    assert not theirs_waits.done(), "a commit for another session wakes only that session's waiters"
    await _commit_from_another_process(dsn, theirs)
    assert await theirs_waits > woke


async def test_a_wait_runs_out_when_nothing_is_committed(store: PgStore) -> None:
    sid = await _session(store)
    mark = await store.wait_for_change(sid, 0)
    assert await store.wait_for_change(sid, 0.1, mark) == mark
    assert await store.wait_for_change(None, 0.1, mark) == mark
    assert _listener(store).running


async def test_the_listener_comes_back_after_its_connection_is_ended_and_no_log_shows_the_password(
    store: PgStore, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sid = await _session(store)
    mark = await store.wait_for_change(sid, 0)
    listener = _listener(store)
    first_backend = listener.backend_pid
    assert first_backend and listener.connects == 1
    waiter = asyncio.ensure_future(store.wait_for_change(sid, WAIT_S, mark))
    with psycopg.connect(dsn, autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(%s)", (first_backend,)).fetchone()
    assert ended == (True,)
    mark = await waiter
    assert listener.connects == 2, "the reconnect wakes every waiter to read again"
    assert listener.backend_pid not in (0, first_backend)
    waiter = asyncio.ensure_future(store.wait_for_change(sid, WAIT_S, mark))
    await store.append(sid, 1, [ev.StepStarted(step="a")])
    assert await waiter > mark, "notifications arrive again on the new connection"
    lines = [record.getMessage() for record in caplog.records]
    assert any("change notifications interrupted" in line for line in lines)
    assert any(shown_dsn(dsn) in line for line in lines), "the store is named by its redacted location"
    for line in lines:
        assert PASSWORD not in line and dsn not in line


async def test_close_stops_the_listener(dsn: str) -> None:
    store = await PgStore.open(dsn)
    await store.wait_for_change(None, 0)
    listener = _listener(store)
    await store.close()
    assert not listener.running and listener.backend_pid == 0


async def test_a_viewers_bus_shows_a_commit_of_another_process_when_told(store: PgStore, dsn: str) -> None:
    sid = await _session(store)
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
    bus = StoreBus(store, sid, liveness=WAIT_S)
    updates = bus.updates()
    first = await anext(updates)
    assert [u.seq for u in first if isinstance(u, ev.Envelope)] == [1]
    nxt = asyncio.ensure_future(anext(updates))
    await _commit_from_another_process(dsn, sid)
    batch = await asyncio.wait_for(nxt, WAIT_S / 2)  # well before the liveness check would read anyway
    assert [u.event.kind for u in batch if isinstance(u, ev.Envelope)] == ["StepStarted"]
    await updates.aclose()


async def test_the_inbox_shows_a_checkpoint_opened_by_another_process_when_told(store: PgStore, dsn: str) -> None:
    sid = await _session(store)
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
    items = watch(store, refresh=WAIT_S)
    assert await anext(items) == []
    nxt = asyncio.ensure_future(anext(items))
    await _commit_from_another_process(dsn, sid, "checkpoint")
    shown = await asyncio.wait_for(nxt, WAIT_S / 2)  # well before the inbox's own refresh
    while not shown:  # the events' commit may wake it before the projection's
        shown = await asyncio.wait_for(anext(items), WAIT_S / 2)
    assert [(i.session_id, i.checkpoint_id) for i in shown] == [(sid, "s:review")]
    await items.aclose()
