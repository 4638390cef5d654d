"""The store on a real SQLite file: WAL, busy_timeout, BEGIN IMMEDIATE, migrations, file modes."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from baton.core import events as ev
from baton.core.commands import Command
from baton.sessions import store as store_module
from baton.sessions.errors import SequenceConflict
from baton.sessions.schema import LATEST
from baton.sessions.store import BUSY_TIMEOUT_MS, Store, StoreError, integrity_ok, shown_status
from tests.conftest import ROOT

INSERT_EVENT = (
    "INSERT INTO events (session_id, seq, ts, kind, step, payload) VALUES (?, ?, 0, 'SessionStarted', '', '{}')"
)


def _plain(db: Path, timeout: float = 5.0) -> sqlite3.Connection:
    return sqlite3.connect(str(db), timeout=timeout, isolation_level=None)


async def _session(store: Store) -> str:
    return await store.create_session(
        "w", workflow_path="<test>", workflow_hash="h", workflow_text="name: w", inputs={}, options={}
    )


async def test_the_file_is_in_wal_mode_with_a_busy_timeout(store: Store, db_path: Path) -> None:
    conn = _plain(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert (await store._one("PRAGMA busy_timeout"))[0] == BUSY_TIMEOUT_MS
    assert (await store._one("PRAGMA user_version"))[0] == LATEST


async def test_a_write_waits_for_another_writer_instead_of_failing(store: Store, db_path: Path) -> None:
    sid = await _session(store)
    holding = threading.Event()
    released: list[float] = []

    def other_writer() -> None:
        conn = _plain(db_path)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE sessions SET reason = 'other' WHERE id = ?", (sid,))
            holding.set()
            time.sleep(0.4)
            released.append(time.monotonic())
            conn.execute("COMMIT")
        finally:
            conn.close()

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    thread = threading.Thread(target=other_writer)
    thread.start()
    await asyncio.to_thread(holding.wait, 5)
    beat = asyncio.ensure_future(ticker())
    inline = store.inline_commits
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
    committed = time.monotonic()
    beat.cancel()
    await asyncio.to_thread(thread.join)
    assert released and committed >= released[0], "the append did not wait for the other writer's commit"
    assert ticks >= 10, "the event loop was blocked while the append waited for the lock"
    assert store.inline_commits == inline, "a locked database must not be written from the event loop"
    await store.append(sid, 2, [ev.StepStarted(step="a")])
    assert store.inline_commits == inline + 1, "an uncontended small append commits without a thread hop"
    assert [e.seq for e in await store.events(sid)] == [1, 2]
    assert (await store.session(sid)).reason == "other"


async def test_transactions_take_the_write_lock_at_begin(store: Store, db_path: Path) -> None:
    """A transaction that reads before it writes holds the write lock from its first statement, so
    what it read cannot change before it writes (BEGIN IMMEDIATE, not a deferred BEGIN)."""
    sid = await _session(store)
    inside = threading.Event()
    proceed = threading.Event()

    def read_then_write(conn: sqlite3.Connection) -> int:
        count = int(conn.execute("SELECT COUNT(*) FROM events WHERE session_id = ?", (sid,)).fetchone()[0])
        inside.set()
        proceed.wait(5)
        conn.execute(INSERT_EVENT, (sid, count + 1))
        return count

    task = asyncio.ensure_future(store.transaction(read_then_write))
    await asyncio.to_thread(inside.wait, 5)
    other = _plain(db_path, timeout=0)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        assert other.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0, "reads still work under WAL"
    finally:
        other.close()
        proceed.set()
    assert await task == 0
    assert await store.last_seq(sid) == 1


async def test_a_failing_transaction_leaves_nothing_behind(store: Store) -> None:
    sid = await _session(store)

    def half(conn: sqlite3.Connection) -> None:
        conn.execute(INSERT_EVENT, (sid, 1))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await store.transaction(half)
    assert await store.last_seq(sid) == 0
    assert not store.conn.in_transaction
    # a duplicate sequence number is refused whole: the batch's other events are not kept either
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
    with pytest.raises(SequenceConflict):
        await store.append(sid, 1, [ev.StepStarted(step="a"), ev.StepStarted(step="b")])
    assert [e.seq for e in await store.events(sid)] == [1]


async def test_a_newer_schema_is_refused_with_a_clear_message(db_path: Path) -> None:
    s = await Store.open(db_path)
    await s.close()
    conn = _plain(db_path)
    conn.execute(f"PRAGMA user_version={LATEST + 7}")
    conn.close()
    with pytest.raises(StoreError) as info:
        await Store.open(db_path)
    message = str(info.value)
    assert f"schema version {LATEST + 7}" in message and f"knows up to {LATEST}" in message
    assert "newer baton" in message


def test_the_cli_refuses_a_newer_schema_without_a_traceback(db_path: Path, private_home: Path) -> None:
    asyncio.run(Store.open(db_path)).conn  # noqa: B018 - create the file
    conn = _plain(db_path)
    conn.execute(f"PRAGMA user_version={LATEST + 1}")
    conn.close()
    from tests.conftest import baton_env

    out = subprocess.run(
        [sys.executable, "-m", "baton.tui.cli", "sessions"],
        cwd=ROOT,
        env=baton_env(private_home, db_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out
    assert "newer baton" in out.stderr and "Traceback" not in out.stderr


async def test_migrations_run_forward_in_order_and_a_failed_one_changes_nothing(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await Store.open(db_path)
    sid = await _session(s)
    await s.close()

    broken = [*store_module.MIGRATIONS, (LATEST + 1, "CREATE TABLE extra (x INTEGER); CREATE TABLE extra (y)")]
    monkeypatch.setattr(store_module, "MIGRATIONS", broken)
    monkeypatch.setattr(store_module, "LATEST", LATEST + 1)
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        await Store.open(db_path)
    conn = _plain(db_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
    finally:
        conn.close()

    forward = [
        *store_module.MIGRATIONS[:-1],
        (LATEST + 1, "CREATE TABLE extra (x INTEGER); INSERT INTO extra VALUES (1)"),
        (LATEST + 2, "ALTER TABLE extra ADD COLUMN y TEXT NOT NULL DEFAULT 'two'"),
    ]
    monkeypatch.setattr(store_module, "MIGRATIONS", forward)
    monkeypatch.setattr(store_module, "LATEST", LATEST + 2)
    s = await Store.open(db_path)
    try:
        assert (await s._one("PRAGMA user_version"))[0] == LATEST + 2
        assert await s._all("SELECT x, y FROM extra") == [(1, "two")]
        assert (await s.session(sid)).workflow == "w", "existing data survives a migration"
    finally:
        await s.close()
    s = await Store.open(db_path)  # reopening at the latest version runs nothing again
    await s.close()


_OPEN_AT_ONCE = """
import asyncio, os, sys, time
from baton.sessions.store import Store
db, go = sys.argv[1], sys.argv[2]
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
async def main():
    store = await Store.open(db)
    try:
        sid = await store.create_session("w", workflow_path="", workflow_hash="", workflow_text="", inputs={},
                                         options={})
        print(sid, flush=True)
    finally:
        await store.close()
asyncio.run(main())
"""


def test_processes_opening_one_new_file_at_once_all_migrate_it_once(tmp_path: Path) -> None:
    for round in range(3):  # a race: several rounds, each on a new file
        (tmp_path / str(round)).mkdir()
        db, go = tmp_path / str(round) / "new.db", tmp_path / str(round) / "go"
        children = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_AT_ONCE, str(db), str(go)],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        go.touch()
        ids = []
        for child in children:
            out, err = child.communicate(timeout=60)
            assert child.returncode == 0, err
            ids.append(out.strip())
        assert len(set(ids)) == 6
        conn = _plain(db)
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
            assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 6
        finally:
            conn.close()


_MODES = """
import asyncio, json, os, stat, sys
os.umask(0o022)
from baton.core import events as ev
from baton.sessions.store import Store
async def main():
    store = await Store.open(sys.argv[1] if sys.argv[1] != "-" else None)
    try:
        sid = await store.create_session("w", workflow_path="", workflow_hash="", workflow_text="", inputs={},
                                         options={})
        await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
        files = [store.path, store.path.with_name(store.path.name + "-wal"),
                 store.path.with_name(store.path.name + "-shm"), store.path.parent]
        print(json.dumps({str(p): stat.S_IMODE(p.stat().st_mode) for p in files}))
    finally:
        await store.close()
asyncio.run(main())
"""


@pytest.mark.parametrize("where", ["explicit", "default"])
def test_files_are_private_even_under_umask_022(tmp_path: Path, private_home: Path, where: str) -> None:
    """The database, its -wal and -shm (checked while open: SQLite removes them at close) are 0600 and
    a directory baton creates is 0700, with the process umask at 022."""
    from tests.conftest import baton_env

    target = tmp_path / "new" / "nested" / "baton.db"
    env = baton_env(private_home, target)
    env.pop("BATON_DB")
    out = subprocess.run(
        [sys.executable, "-c", _MODES, str(target) if where == "explicit" else "-"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    modes = {Path(k): v for k, v in json.loads(out.stdout).items()}
    db = next(p for p in modes if p.name.endswith(".db"))
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert modes[path] == 0o600, f"{path}: {oct(modes[path])}"
    assert modes[db.parent] == 0o700, oct(modes[db.parent])
    if where == "explicit":
        assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o700
    else:
        assert db == private_home / "xdg_data_home" / "baton" / "baton.db"


async def test_an_existing_directory_is_left_as_it_is(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    s = await Store.open(shared / "baton.db")
    await s.close()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert stat.S_IMODE((shared / "baton.db").stat().st_mode) == 0o600


async def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    db = tmp_path / "baton.db"
    db.touch()
    os.chmod(db, 0o644)
    s = await Store.open(db)
    await s.close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


async def test_commands_round_trip_and_unreadable_ones_are_rejected(store: Store, db_path: Path) -> None:
    sid = await _session(store)
    good = await store.send(sid, Command(kind="pause", by="ann"))
    conn = _plain(db_path)
    cur = conn.execute(
        "INSERT INTO commands (session_id, ts, body) VALUES (?, 0, ?)", (sid, json.dumps({"kind": "explode"}))
    )
    bad = int(cur.lastrowid or 0)
    conn.close()
    pending = await store.pending_commands(sid)
    assert [(c.id, c.kind, c.by) for c in pending] == [(good, "pause", "ann")]
    status, reason = await store.command_status(bad)
    assert status == "rejected" and "unreadable command" in reason
    await store.append(sid, 1, [ev.SessionStarted(workflow="w")], command_ids=[good])
    assert await store.command_status(good) == ("done", "")
    assert await store.pending_commands(sid) == []


async def test_session_prefixes_resolve_exactly(store: Store) -> None:
    a = await _session(store)
    assert await store.resolve(a) == a
    assert await store.resolve(a[:5]) == a
    with pytest.raises(StoreError, match="no session"):
        await store.resolve("zz%")
    with pytest.raises(StoreError, match="no session"):
        await store.resolve("_" + a[1:])


async def test_delete_removes_every_row_of_the_session(store: Store, db_path: Path) -> None:
    keep, gone = await _session(store), await _session(store)
    for sid in (keep, gone):
        await store.append(sid, 1, [ev.SessionStarted(workflow="w")], deltas=[("s", "c", "text")])
        await store.send(sid, Command(kind="pause"))
        await store.acquire_lease(sid)
    await store.delete_session(gone)
    conn = _plain(db_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            column = "session_id" if "session_id" in cols else ("id" if table == "sessions" else None)
            if column is None:
                continue
            assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = ?", (gone,)).fetchone()[0] == 0, table
        assert conn.execute("SELECT COUNT(*) FROM events WHERE session_id = ?", (keep,)).fetchone()[0] == 1
    finally:
        conn.close()
    assert integrity_ok(db_path)


async def test_a_side_effect_intent_is_synced_to_disk_before_the_tool_runs(store: Store) -> None:
    """Ordinary commits survive a killed process (WAL, synchronous=NORMAL); the intent of a side-effecting
    tool must also survive a power cut, or a resumed run could not know the tool may have run."""
    sid = await _session(store)
    statements: list[str] = []
    conn = store.conn.raw
    conn.set_trace_callback(statements.append)
    try:
        await store.append(sid, 1, [ev.StepStarted(step="publish")])
        ordinary = list(statements)
        statements.clear()
        intent = ev.ToolCallIntent(
            step="publish", tool="t:publish", idempotency_key="k", args_hash="h", args={}, side_effects=True
        )
        await store.append(sid, 2, [intent])
    finally:
        conn.set_trace_callback(None)
    assert not any("synchronous" in s for s in ordinary) and "COMMIT" in ordinary
    order = [s for s in statements if s.startswith(("PRAGMA synchronous", "BEGIN", "COMMIT"))]
    assert order == ["PRAGMA synchronous=FULL", "BEGIN IMMEDIATE", "COMMIT", "PRAGMA synchronous=NORMAL"]
    assert (await store._one("PRAGMA synchronous"))[0] == 1  # back to NORMAL


def test_the_shown_status_of_a_listed_session() -> None:
    assert shown_status("running", None) == "running"
    assert shown_status("running", True, waiting=True) == "waiting"
    assert shown_status("running", False, waiting=True) == "interrupted", "no runner: nobody is waiting on you"
    assert shown_status("completed", None, waiting=True) == "completed"


_COUNT = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM events').fetchone()[0])"


async def test_commits_after_opening_an_existing_store_survive_other_processes_closing_it(db_path: Path) -> None:
    """Opening an existing file must not drop this process's locks on it (closing any descriptor of the file
    would): another process closing its connection would then think it was the last one, checkpoint and
    delete the journal, and every later commit of ours would go to a deleted file."""
    await (await Store.open(db_path)).close()
    store = await Store.open(db_path)
    try:
        sid = await _session(store)
        await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
        seen = []
        for seq in (2, 3):
            out = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", _COUNT, str(db_path)], capture_output=True, text=True, timeout=60
            )
            seen.append(int(out.stdout))
            await store.append(sid, seq, [ev.StepStarted(step=f"s{seq}")])
        out = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", _COUNT, str(db_path)], capture_output=True, text=True, timeout=60
        )
        seen.append(int(out.stdout))
    finally:
        await store.close()
    assert seen == [1, 2, 3]
