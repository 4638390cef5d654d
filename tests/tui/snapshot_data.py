"""A session database for snapshot tests, made by real runners and then pinned in time.

Three sessions: one completed, one paused at a review checkpoint, one whose runner process was killed
with SIGKILL while two agents were mid-stream (their streamed text is still in the store). Afterwards
the timestamps and session ids are rewritten to fixed values, so screenshots do not change from run
to run; everything else is what the runners recorded.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import time
from pathlib import Path

import yaml

from baton.core.commands import Command
from baton.core.llm.offline import no_repeats, split_chunks
from baton.core.runner import RunOptions
from baton.core.view import SessionView
from baton.sessions.create import create_session
from baton.sessions.store import Store
from baton.tui.launch import spawn_runner
from tests.helpers import Session, run, workflow
from tests.tui.drive import GATED

T0 = 1_767_225_600.0
"""2026-01-01 00:00 UTC: when the pinned sessions start."""
NOW = T0 + 900.0
"""The clock the snapshot apps read."""
IDS = {"completed": "c0mpl3t3", "paused": "pau5ed00", "streaming": "5tr3am00"}

SNAP_REVIEW = """
name: release-notes
state:
  change: {type: str}
  draft: {type: str}
  final: {type: str}
inputs:
  change: {default: "faster session replay"}
models:
  fast:
    model: mock/fast
    mock:
      replies:
        - match: "Draft"
          text: "## Release notes\\n\\n- Sessions replay **twice as fast**.\\n- Fewer writes per step."
        - {match: "Polish", text: "Polished."}
  strong: {model: mock/strong}
steps:
  - id: draft
    kind: agent
    model: fast
    reads: [change]
    writes: [draft]
    prompt: "Draft notes for {change}"
    review: always
  - {id: polish, kind: agent, model: fast, reads: [draft], writes: [final], prompt: "Polish {draft}"}
"""

SNAP_STREAM = """
name: market-scan
state:
  topic: {type: str}
  notes: {type: "list[str]", reducer: append}
  brief: {type: str}
inputs:
  topic: {default: "home batteries"}
models:
  fast:
    model: mock/fast
    mock:
      replies:
        - {match: "papers", text: "Papers: cell costs fell 14% in a year; cycle life now passes 6000 cycles."}
        - match: "news"
          text: "News: three utilities announced home battery rebates this spring, and installers report waiting lists."
        - {match: "critics", text: "Critics: payback periods still exceed ten years without subsidies in most markets."}
      faults:
        - {match: "news|critics", error: stall, after_chunks: 7, stall_s: 3600}
steps:
  - id: research
    kind: parallel
    branches:
      - {id: papers, kind: agent, model: fast, reads: [topic], writes: [notes], prompt: "papers on {topic}"}
      - {id: news, kind: agent, model: fast, reads: [topic], writes: [notes], prompt: "news on {topic}"}
      - {id: critics, kind: agent, model: fast, reads: [topic], writes: [notes], prompt: "critics on {topic}"}
  - {id: brief, kind: agent, model: fast, reads: [notes], writes: [brief], prompt: "Brief from {notes}"}
"""


async def _completed(store: Store) -> str:
    _, view = await run(store, workflow(GATED), options=RunOptions(auto="approve"))
    return view.session_id


async def _paused(store: Store) -> str:
    session = await Session.start(store, workflow(SNAP_REVIEW))
    await session.checkpoint("draft")
    await session.command(Command(kind="pause", by="tester"))
    await session.finish()
    return session.id


def _stalled() -> dict[str, str]:
    """What each stalling agent of SNAP_STREAM has streamed once it stalls: its reply's first chunks."""
    mock = yaml.safe_load(SNAP_STREAM)["models"]["fast"]["mock"]
    (fault,) = mock["faults"]
    return {
        f"research/{reply['match']}": "".join(no_repeats(split_chunks(reply["text"]))[: fault["after_chunks"]])
        for reply in mock["replies"]
        if re.fullmatch(fault["match"], reply["match"])
    }


async def _streaming(store: Store, db: Path) -> str:
    session_id = await create_session(store, workflow(SNAP_STREAM), {}, RunOptions(), {})
    process = spawn_runner(db, session_id)
    stalled = _stalled()
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            view = await store.view(session_id)
            papers = view.steps.get("research/papers")
            streamed: dict[str, str] = {}
            for delta in await store.deltas(session_id):
                streamed[delta.step] = streamed.get(delta.step, "") + delta.text
            row = await store.session(session_id)
            caught_up = row.projected_seq == view.last_seq  # Home lists the projection's figures
            if papers is not None and papers.status == "completed" and streamed == stalled and caught_up:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the snapshot runner never reached its stall")
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    return session_id


async def _build(db: Path) -> dict[str, str]:
    store = await Store.open(db)
    try:
        made = {
            "completed": await _completed(store),
            "paused": await _paused(store),
            "streaming": await _streaming(store, db),
        }
    finally:
        await store.close()
    return made


def _pin(db: Path, made: dict[str, str]) -> None:
    """Fixed ids and timestamps (events every 0.5 s from a fixed start), projections to match."""
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for index, (name, old) in enumerate(made.items()):
            new = IDS[name]
            for table in tables:
                columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
                if "session_id" in columns:
                    conn.execute(f"UPDATE {table} SET session_id = ? WHERE session_id = ?", (new, old))
            conn.execute("UPDATE sessions SET id = ? WHERE id = ?", (new, old))
            start = T0 + index * 120
            conn.execute("UPDATE events SET ts = ? + seq * 0.5 WHERE session_id = ?", (start, new))
            conn.commit()
        for new in IDS.values():
            envelopes = _envelopes(conn, new)
            view = SessionView(new).apply_all(envelopes)
            conn.execute(
                "UPDATE sessions SET created_at = ?, updated_at = ?, ended_at = ?, active_s = ? WHERE id = ?",
                (envelopes[0].ts, envelopes[-1].ts, view.ended_at, round(view.active_s, 3), new),
            )
        conn.commit()
    finally:
        conn.close()


def _envelopes(conn: sqlite3.Connection, session_id: str) -> list:  # type: ignore[type-arg]
    import json

    from baton.core import events as ev

    rows = conn.execute(
        "SELECT seq, ts, kind, step, payload FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
    ).fetchall()
    return [ev.Envelope(session_id, s, t, ev.event_from_payload(k, st, json.loads(p))) for s, t, k, st, p in rows]


def build(db: Path) -> dict[str, str]:
    """Make the database (in the caller's private XDG directories); returns role → fixed session id."""
    made = asyncio.run(_build(db))
    _pin(db, made)
    return dict(IDS)
