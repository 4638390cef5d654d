"""The projection tables in PostgreSQL's SQL: `sqlite_projection` with `%s` parameters and upserts
(`ON CONFLICT … DO UPDATE`) where SQLite says `INSERT OR REPLACE`. Runs inside the caller's transaction.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from baton.sessions.records import ProjectionUpdate
from baton.sessions.sqlite_projection import CALL_COLUMNS, CHECKPOINT_COLUMNS, STEP_COLUMNS


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


def _upsert(table: str, columns: list[str], key: tuple[str, ...]) -> str:
    names, marks = ", ".join(columns), ", ".join(["%s"] * len(columns))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    return f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"


_UPSERT_STEP = _upsert("steps", STEP_COLUMNS, ("session_id", "path"))
_UPSERT_CALL = _upsert("llm_calls", CALL_COLUMNS, ("session_id", "call_id"))
_UPSERT_CHECKPOINT = _upsert("checkpoints", CHECKPOINT_COLUMNS, ("session_id", "checkpoint_id"))
_UPDATE_SESSION = (
    "UPDATE sessions SET status=%s, reason=%s, error=%s, updated_at=%s, ended_at=%s, active_s=%s, cost_usd=%s,"
    " cost_unknown=%s, tokens_in=%s, tokens_out=%s, steps_total=%s, steps_done=%s, inbox=%s, degraded=%s,"
    " last_seq=%s, projected_seq=%s WHERE id=%s"
)


def query(sql: str) -> str:
    """A read of `sqlite_projection` (`?` parameters) in psycopg's style."""
    return _pg(sql)


async def write(conn: AsyncConnection[tuple[object, ...]], update: ProjectionUpdate) -> None:
    """Apply one projection write (inside the caller's transaction)."""
    sid = update.session_id
    async with conn.cursor() as cur:
        await cur.execute(_UPDATE_SESSION, (*update.summary, sid))
        if update.steps:
            await cur.executemany(_UPSERT_STEP, update.steps)
        if update.state is not None:
            await cur.execute("DELETE FROM state WHERE session_id = %s", (sid,))
            if update.state:
                await cur.executemany(
                    "INSERT INTO state (session_id, key, value) VALUES (%s,%s,%s)",
                    [(sid, k, v) for k, v in update.state.items()],
                )
        if update.calls:
            await cur.executemany(_UPSERT_CALL, update.calls)
        if update.checkpoints:
            await cur.executemany(_UPSERT_CHECKPOINT, update.checkpoints)
        if update.finished_calls:
            await cur.executemany(
                "DELETE FROM deltas WHERE session_id = %s AND call_id = %s", [(sid, c) for c in update.finished_calls]
            )
