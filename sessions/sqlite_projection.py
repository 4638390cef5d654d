"""The projection tables in SQL: one projection write as statements on a connection, and the reads that
give its rows back. Runs on the store's connection inside one transaction (see `Store.write_projection`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from baton.sessions.records import CallRow, CheckpointRow, ProjectionUpdate, StepRow


def _columns(row_type: Any) -> list[str]:
    return list(row_type._fields)


STEP_COLUMNS = _columns(StepRow)
CALL_COLUMNS = _columns(CallRow)
CHECKPOINT_COLUMNS = _columns(CheckpointRow)
STEPS_SQL = f"SELECT {', '.join(STEP_COLUMNS)} FROM steps WHERE session_id = ? ORDER BY path"
STATE_SQL = "SELECT key, value FROM state WHERE session_id = ? ORDER BY key"
CALLS_SQL = f"SELECT {', '.join(CALL_COLUMNS)} FROM llm_calls WHERE session_id = ? ORDER BY call_id"
_CHECKPOINTS = f"SELECT {', '.join(CHECKPOINT_COLUMNS)} FROM checkpoints"


def checkpoints_sql(session: bool, open_only: bool) -> str:
    """The query for `Store.checkpoints`: of one session (a `?` parameter) or all, open ones or every one."""
    where = [clause for clause, wanted in (("session_id = ?", session), ("status = 'open'", open_only)) if wanted]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"{_CHECKPOINTS}{clause} ORDER BY opened_at, session_id, checkpoint_id"


def _insert(table: str, columns: list[str]) -> str:
    return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_INSERT_STEP = _insert("steps", STEP_COLUMNS)
_INSERT_CALL = _insert("llm_calls", CALL_COLUMNS)
_INSERT_CHECKPOINT = _insert("checkpoints", CHECKPOINT_COLUMNS)
_UPDATE_SESSION = (
    "UPDATE sessions SET status=?, reason=?, error=?, updated_at=?, ended_at=?, active_s=?, cost_usd=?,"
    " cost_unknown=?, tokens_in=?, tokens_out=?, steps_total=?, steps_done=?, inbox=?, degraded=?,"
    " last_seq=?, projected_seq=? WHERE id=?"
)


def write(conn: sqlite3.Connection, update: ProjectionUpdate) -> None:
    """Apply one projection write (inside the caller's transaction)."""
    sid = update.session_id
    conn.execute(_UPDATE_SESSION, (*update.summary, sid))
    if update.steps:
        conn.executemany(_INSERT_STEP, update.steps)
    if update.state is not None:
        conn.execute("DELETE FROM state WHERE session_id = ?", (sid,))
        conn.executemany(
            "INSERT INTO state (session_id, key, value) VALUES (?,?,?)", [(sid, k, v) for k, v in update.state.items()]
        )
    if update.calls:
        conn.executemany(_INSERT_CALL, update.calls)
    if update.checkpoints:
        conn.executemany(_INSERT_CHECKPOINT, update.checkpoints)
    if update.finished_calls:
        conn.executemany(
            "DELETE FROM deltas WHERE session_id = ? AND call_id = ?", [(sid, c) for c in update.finished_calls]
        )
