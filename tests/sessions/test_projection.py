"""Projections (sessions, steps, state, llm_calls, checkpoints tables) equal the fold of the events:
after a run, after a rebuild, and after a runner died before its last projection write."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from baton.core.runner import RunOptions
from baton.core.view import SessionView
from baton.sessions import projection
from baton.sessions.host import SessionHost
from baton.sessions.store import Store
from tests.helpers import Session, run


def _dump(db: Path, sid: str) -> dict[str, Any]:
    conn = sqlite3.connect(str(db))
    try:
        q = conn.execute
        return {
            "session": q(
                "SELECT status, steps_total, steps_done, inbox, degraded, last_seq, projected_seq, tokens_in,"
                " tokens_out, round(cost_usd, 8), cost_unknown FROM sessions WHERE id = ?",
                (sid,),
            ).fetchone(),
            "steps": {
                r[0]: r[1:]
                for r in q(
                    "SELECT path, kind, status, model, tokens_in, tokens_out, output, writes, error FROM steps"
                    " WHERE session_id = ?",
                    (sid,),
                )
            },
            "state": {k: json.loads(v) for k, v in q("SELECT key, value FROM state WHERE session_id = ?", (sid,))},
            "calls": {
                r[0]: r[1:]
                for r in q(
                    "SELECT call_id, step, model, status, request_hash, response, tokens_in, tokens_out, replayed"
                    " FROM llm_calls WHERE session_id = ?",
                    (sid,),
                )
            },
            "checkpoints": {
                r[0]: r[1:]
                for r in q(
                    "SELECT checkpoint_id, step, reason, status, decision FROM checkpoints WHERE session_id = ?", (sid,)
                )
            },
        }
    finally:
        conn.close()


def _fold(view: SessionView) -> dict[str, Any]:
    done = sum(1 for s in view.steps.values() if s.status in ("completed", "degraded", "skipped"))
    return {
        "session": (
            view.status,
            len(view.steps),
            done,
            len(view.open_checkpoints),
            int(view.degraded),
            view.last_seq,
            view.last_seq,
            view.tokens_in,
            view.tokens_out,
            round(view.cost_usd, 8),
            view.cost_unknown_calls,
        ),
        "steps": {
            s.path: (
                s.kind,
                s.status,
                s.model,
                s.tokens_in,
                s.tokens_out,
                json.dumps(s.output, ensure_ascii=False, default=str),
                json.dumps(s.writes, ensure_ascii=False, default=str),
                s.error,
            )
            for s in view.steps.values()
        },
        "state": view.state,
        "calls": {
            c.call_id: (
                c.step,
                c.model,
                c.status,
                c.request_hash,
                c.text,
                c.tokens_in,
                c.tokens_out,
                int(c.replayed),
            )
            for c in view.calls.values()
        },
        "checkpoints": {
            c.checkpoint_id: (
                c.step,
                c.reason,
                "open" if c.is_open else "decided",
                c.decision.decision if c.decision else "",
            )
            for c in view.checkpoints.values()
        },
    }


@pytest.mark.parametrize("flow", ["demo", "supervisor", "loop", "map", "tool", "router"])
async def test_projections_equal_the_fold_after_a_run_and_a_rebuild(
    store: Store, db_path: Path, flow: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_PUBLISH_FILE", str(tmp_path / "published.jsonl"))
    status, view = await run(store, flow, options=RunOptions(auto="approve"))
    assert status == "completed", view.error
    assert view.steps and view.calls or flow == "tool"
    assert _dump(db_path, view.session_id) == _fold(view)
    rebuilt = await projection.rebuild(store, view.session_id)
    assert _dump(db_path, view.session_id) == _fold(rebuilt) == _fold(view)


async def test_projections_catch_up_after_a_runner_died_before_writing_them(store: Store, db_path: Path) -> None:
    """A killed runner leaves events its projection timer never wrote; the next runner projects them at
    once, even for steps it only replays (a replayed step emits no event)."""
    status, view = await run(store, "parallel", options=RunOptions(auto="approve"))
    assert status == "completed"
    sid = view.session_id
    conn = sqlite3.connect(str(db_path))
    with conn:
        for table in ("steps", "state", "llm_calls", "checkpoints"):
            conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (sid,))
        conn.execute("UPDATE sessions SET status = 'running', projected_seq = 1, steps_done = 0 WHERE id = ?", (sid,))
    conn.close()

    session = Session(store, sid, SessionHost(store, sid))
    await session.resume(RunOptions(auto="approve"))
    assert await session.finish() == "completed"
    after = await store.view(sid)
    assert _dump(db_path, sid) == _fold(after)
    assert {p: s.status for p, s in after.steps.items()} == {p: s.status for p, s in view.steps.items()}
