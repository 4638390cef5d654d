"""Crash-test harness: start real runner processes, read a session straight from the SQLite file.

Everything here reads the database through a plain `sqlite3` connection of its own, the way a
second process would, so nothing depends on the runner's connection being healthy.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baton.core import events as ev
from baton.core.runner import RunOptions
from baton.core.spec.load import load_workflow
from baton.core.view import SessionView
from baton.sessions.create import create_session
from baton.sessions.store import Store

ROOT = Path(__file__).resolve().parents[3]
FLOW = Path(__file__).resolve().parent / "kill.yaml"


@dataclass(frozen=True)
class Row:
    """One stored event, exactly as committed."""

    seq: int
    ts: float
    kind: str
    step: str
    payload: str

    def event(self) -> ev.Event:
        """The event it encodes."""
        return ev.event_from_payload(self.kind, self.step, json.loads(self.payload))


def create(db: Path, flow: Path = FLOW, options: RunOptions | None = None) -> str:
    """A new session of `flow` in `db`, created through the store (its runner starts it)."""

    async def go() -> str:
        wf = load_workflow(flow)
        store = await Store.open(db)
        try:
            return await create_session(store, wf, options=options or RunOptions(auto="approve"))
        finally:
            await store.close()

    return asyncio.run(go())


def create_with_inputs(db: Path, flow: Path, options: RunOptions, inputs: dict[str, Any]) -> str:
    """A new session of `flow` with `inputs`, created through the store."""

    async def go() -> str:
        wf = load_workflow(flow)
        store = await Store.open(db)
        try:
            return await create_session(store, wf, inputs=inputs, options=options)
        finally:
            await store.close()

    return asyncio.run(go())


def spawn(db: Path, session_id: str, env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    """The real background runner, as `baton run` starts it."""
    return subprocess.Popen(
        [sys.executable, "-m", "baton.sessions.runner_main", "--db", str(db), "--session", session_id, *extra],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def connect(db: Path) -> sqlite3.Connection:
    """A separate reader/writer connection (busy_timeout 5 s)."""
    return sqlite3.connect(str(db), timeout=5.0, isolation_level=None)


def rows(db: Path, session_id: str) -> list[Row]:
    """A session's events in order."""
    conn = connect(db)
    try:
        cur = conn.execute(
            "SELECT seq, ts, kind, step, payload FROM events WHERE session_id = ? ORDER BY seq", (session_id,)
        )
        return [Row(*r) for r in cur.fetchall()]
    finally:
        conn.close()


def last_seq(db: Path, session_id: str) -> int:
    """Highest committed sequence number."""
    conn = connect(db)
    try:
        return int(
            conn.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE session_id = ?", (session_id,)).fetchone()[0]
        )
    finally:
        conn.close()


def integrity(db: Path) -> str:
    """`PRAGMA integrity_check` from a fresh connection."""
    conn = connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def fold(session_id: str, stored: list[Row]) -> SessionView:
    """The session view folded from stored rows."""
    view = SessionView(session_id)
    for r in stored:
        view.apply(ev.Envelope(session_id, r.seq, r.ts, r.event()))
    return view


def counter_lines(path: Path) -> list[tuple[int, str]]:
    """(pid, step path) for every run of a counted tool."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        pid, _, step = line.partition(" ")
        out.append((int(pid), step))
    return out


def completions(stored: list[Row]) -> dict[str, int]:
    """Step path → seq of its StepCompleted."""
    return {r.step: r.seq for r in stored if r.kind == "StepCompleted"}


def wait_for_seq(db: Path, session_id: str, after: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """Wait until the runner commits something past `after` (or exits); returns the new last seq."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seq = last_seq(db, session_id)
        if seq > after or proc.poll() is not None:
            return seq
        time.sleep(0.005)
    raise AssertionError(f"runner {proc.pid} committed nothing within {timeout}s")


def log_tail(home: Path, session_id: str, lines: int = 30) -> str:
    """The end of a runner's log file (for failure messages)."""
    log = home / "xdg_state_home" / "baton" / "logs" / f"{session_id}.log"
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@dataclass
class Campaign:
    """One session driven through kills and resumes; what each kill left behind is kept."""

    session_id: str
    counter: Path
    pids: list[int] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)
    snapshots: list[list[Row]] = field(default_factory=list)
    counts_at_kill: list[tuple[set[str], list[tuple[int, str]]]] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    finished_early: int = 0


def table(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on a separate connection."""
    conn = connect(db)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def env_with(base: dict[str, str], **extra: str) -> dict[str, str]:
    """`base` plus `extra`, with the repository importable."""
    env = dict(base)
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env
