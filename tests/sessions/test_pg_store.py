"""What only the PostgreSQL store must show, on a real server (`tests/sessions/pg_server.py`): writers in
separate connections racing for one session's sequence numbers, a lease taken over when it expires, the
schema's version, commits announced on `baton_changes`, the real `baton` command (runner process
included) on `BATON_DB=postgresql://…`, and the password kept out of everything a person or a file sees.
The behaviour shared with every store is in `conformance.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from baton.core import events as ev
from baton.sessions import pg_schema
from baton.sessions.app import InProcessRunners, Sessions, plan_run
from baton.sessions.app.runners import runner_log, spawn_runner
from baton.sessions.errors import SequenceConflict, SessionInUse, StoreError, StoreUnusable
from baton.sessions.leases import LeaseOwner
from baton.sessions.open import open_store, shown_location
from baton.sessions.pg_dsn import scrub, shown_dsn
from baton.sessions.pg_store import PgStore
from baton.sessions.store import Store
from tests.conftest import ROOT, baton_env
from tests.sessions.pg_server import PASSWORD, PgServer, shared_server


@pytest.fixture
def pg_server() -> PgServer:
    """The test process's PostgreSQL server (started on first use)."""
    return shared_server()


@pytest.fixture
def dsn(pg_server: PgServer) -> str:
    """A fresh database's URL (password included)."""
    return pg_server.create_database()


@pytest.fixture
async def pair(dsn: str) -> AsyncIterator[tuple[PgStore, PgStore]]:
    """Two stores on one database, each with its own connections (as two machines would have)."""
    first, second = await PgStore.open(dsn), await PgStore.open(dsn)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _session(store: PgStore) -> str:
    return await store.create_session(
        "w", workflow_path="/w.yaml", workflow_hash="h", workflow_text="", inputs={}, options={}
    )


async def test_two_stores_racing_for_the_same_sequence_numbers_keep_exactly_one_batch(
    pair: tuple[PgStore, PgStore],
) -> None:
    first, second = pair
    sid = await _session(first)
    for _ in range(20):
        seq = await first.last_seq(sid) + 1
        batches = {
            "a": [ev.StepStarted(step=f"a{seq}"), ev.StepStarted(step=f"a{seq}+")],
            "b": [ev.StepStarted(step=f"b{seq}")],
        }
        results = await asyncio.gather(
            first.append(sid, seq, batches["a"]), second.append(sid, seq, batches["b"]), return_exceptions=True
        )
        assert sum(isinstance(r, SequenceConflict) for r in results) == 1, results
        winner = "a" if isinstance(results[0], list) else "b"
        assert [e.event for e in await second.events(sid, after=seq - 1)] == batches[winner]
    seqs = [e.seq for e in await second.events(sid)]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 20, "sequence numbers are contiguous"


async def test_many_writers_appending_with_retries_leave_one_contiguous_history(dsn: str) -> None:
    stores = [await PgStore.open(dsn) for _ in range(3)]
    try:
        sid = await _session(stores[0])
        conflicts = 0

        async def writer(store: PgStore, name: str) -> None:
            nonlocal conflicts
            written = 0
            while written < 15:
                seq = await store.last_seq(sid) + 1
                try:
                    await store.append(sid, seq, [ev.StepStarted(step=f"{name}{written}")])
                    written += 1
                except SequenceConflict:
                    conflicts += 1

        await asyncio.gather(*(writer(s, f"w{i}-") for i, s in enumerate(stores)))
        history = await stores[1].events(sid)
        assert [e.seq for e in history] == list(range(1, 46))
        assert sorted(e.event.step for e in history) == sorted(f"w{i}-{n}" for i in range(3) for n in range(15))
    finally:
        for store in stores:
            await store.close()


async def test_a_lease_on_another_machine_is_taken_over_once_it_expires(pair: tuple[PgStore, PgStore]) -> None:
    first, second = pair
    sid = await _session(first)
    elsewhere = LeaseOwner(777, socket.gethostname() + "-other-machine")
    theirs = await first.acquire_lease(sid, ttl=0.5, owner=elsewhere)
    with pytest.raises(SessionInUse, match="in use by pid 777 on"):
        await second.acquire_lease(sid)
    deadline = time.monotonic() + 10
    while await second.runner_alive(sid):
        assert time.monotonic() < deadline, "the lease never expired"
        await asyncio.sleep(0.05)
    ours = await second.acquire_lease(sid)
    lease = await first.lease(sid)
    assert lease is not None and (lease.pid, lease.host) == (os.getpid(), socket.gethostname())
    assert not await first.renew_lease(sid, theirs), "the old holder's lease is gone"
    assert await second.renew_lease(sid, ours)
    await second.release_lease(sid, ours)


async def test_racing_takers_of_a_free_session_get_one_lease(dsn: str) -> None:
    stores = [await PgStore.open(dsn) for _ in range(4)]
    try:
        sid = await _session(stores[0])
        owners = [LeaseOwner(1000 + i, f"machine-{i}") for i in range(4)]
        results = await asyncio.gather(
            *(s.acquire_lease(sid, ttl=60, owner=o) for s, o in zip(stores, owners, strict=True)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, str) for r in results) == 1, results
        assert sum(isinstance(r, SessionInUse) for r in results) == 3, results
    finally:
        for store in stores:
            await store.close()


async def test_the_schema_is_versioned_and_a_newer_one_is_refused(dsn: str) -> None:
    opened = await asyncio.gather(*(PgStore.open(dsn) for _ in range(3)))  # three processes migrating at once
    for store in opened:
        await store.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM baton_schema").fetchall() == [(pg_schema.LATEST,)]
        conn.execute("UPDATE baton_schema SET version = %s", (pg_schema.LATEST + 1,))
    with pytest.raises(StoreUnusable, match="newer baton") as info:
        await PgStore.open(dsn)
    assert PASSWORD not in str(info.value) and ":***@" in str(info.value)


async def test_the_tables_and_columns_are_the_sqlite_stores(dsn: str, tmp_path: Path) -> None:
    await (await PgStore.open(dsn)).close()
    await (await Store.open(tmp_path / "local.db")).close()
    local = sqlite3.connect(tmp_path / "local.db")
    names = local.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'sqlite_sequence'")
    tables = [r[0] for r in names]
    assert len(tables) == 12
    with psycopg.connect(dsn) as conn:
        for table in tables:
            ours = [r[1] for r in local.execute(f"PRAGMA table_info({table})")]
            query = "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position"
            assert [r[0] for r in conn.execute(query, (table,))] == ours, table
    local.close()


async def test_every_commit_is_announced_with_its_session(dsn: str) -> None:
    listener = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    store = await PgStore.open(dsn)
    try:
        await listener.execute(f"LISTEN {pg_schema.CHANNEL}")
        sid = await _session(store)
        await store.append(sid, 1, [ev.SessionStarted(workflow="w")])
        heard: list[str] = []
        async for note in listener.notifies(timeout=10):
            heard.append(note.payload)
            if len(heard) == 2:
                break
        assert heard == [sid, sid]
    finally:
        await store.close()
        await listener.close()


def test_dsns_are_shown_without_their_password() -> None:
    url = f"postgresql://ann:{PASSWORD}@db.example:5432/baton?sslmode=require"
    assert shown_dsn(url) == "postgresql://ann:***@db.example:5432/baton?sslmode=require"
    assert shown_dsn("postgresql://ann@db/baton") == "postgresql://ann@db/baton"
    assert shown_dsn(f"postgres://db/baton?password={PASSWORD}&x=1") == "postgres://db/baton?password=***&x=1"
    assert shown_location(url) == shown_dsn(url) and shown_location("/tmp/x.db") == "/tmp/x.db"
    assert scrub(f"failed for {url} using {PASSWORD}", url) == f"failed for {shown_dsn(url)} using ***"


async def test_open_store_chooses_by_the_locations_scheme(dsn: str, tmp_path: Path) -> None:
    server, local = await open_store(dsn), await open_store(tmp_path / "local.db")
    try:
        assert isinstance(server, PgStore) and isinstance(local, Store)
        assert server.location == shown_dsn(dsn) and PASSWORD not in server.location
    finally:
        await server.close()
        await local.close()


async def test_an_unreachable_server_or_a_wrong_password_is_refused_without_showing_the_password(
    pg_server: PgServer,
) -> None:
    wrong = pg_server.dsn(tcp=True).replace(PASSWORD, "wrong-" + PASSWORD)
    with pytest.raises(StoreUnusable, match="cannot connect") as info:
        await PgStore.open(wrong)
    assert PASSWORD not in str(info.value) and "***" in str(info.value)
    closed = f"postgresql://baton:{PASSWORD}@127.0.0.1:{_closed_port()}/nowhere"
    with pytest.raises(StoreUnusable, match="cannot connect") as info:
        await PgStore.open(closed)
    assert PASSWORD not in str(info.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_store_error_names_the_server_without_its_password(pair: tuple[PgStore, PgStore]) -> None:
    first, _ = pair
    with pytest.raises(StoreError) as info:
        await first.resolve("nope")
    assert ":***@" in str(info.value) and PASSWORD not in str(info.value)


GATED = """\
name: gated
state:
  count: {type: int}
inputs:
  count: {default: 1}
steps:
  - {id: check, kind: gate, reads: [count], message: "Go on?"}
  - {id: again, kind: gate, reads: [count], message: "Really?"}
"""


async def test_a_session_runs_forks_and_is_deleted_on_postgresql(dsn: str, tmp_path: Path) -> None:
    flow = tmp_path / "gated.yaml"
    flow.write_text(GATED, encoding="utf-8")
    store = await PgStore.open(dsn)
    try:
        app = Sessions(store, InProcessRunners())
        first = await app.start(plan_run(str(flow), auto="approve"))
        assert await first.finish("completed") == "completed"
        forked = await app.fork(first.session_id[:6], "again", ["count=7"])
        assert await (await app.run(forked.session_id)).finish("completed") == "completed"
        view = (await app.open(forked.session_id)).view
        assert (view.parent, view.state["count"]) == (first.session_id, 7)
        kinds = [(e.event.kind, e.event.step) for e in await store.events(forked.session_id)]
        assert kinds.count(("StepStarted", "check")) == 1, "the step before the fork point is not run again"
        for sid in (first.session_id, forked.session_id):
            seqs = [e.seq for e in await store.events(sid)]
            assert seqs == list(range(1, len(seqs) + 1))
            assert (await store.session(sid)).status == "completed"
        await app.delete(first.session_id)
        assert [r.id for r in await store.sessions()] == [forked.session_id]
    finally:
        await store.close()


# --- the real command ------------------------------------------------------------------------------


def _baton(home: Path, dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = baton_env(home, Path("unused"), BATON_LINE="1", PYTHONPATH=str(ROOT))
    env["BATON_DB"] = dsn
    return subprocess.run(
        [sys.executable, "-m", "baton.tui.cli", *args],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.e2e
def test_baton_runs_a_session_on_postgresql_and_reads_it_back(dsn: str, private_home: Path) -> None:
    done = _baton(private_home, dsn, "run", "demo", "--auto", "approve", "--json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert lines[-1]["kind"] == "SessionCompleted"
    sid = lines[-1]["session_id"]
    seqs = [line["seq"] for line in lines if "seq" in line]
    assert seqs == sorted(seqs)

    shown = _baton(private_home, dsn, "show", sid, "--json")
    assert shown.returncode == 0, shown.stderr
    listed = _baton(private_home, dsn, "sessions")
    assert listed.returncode == 0 and sid in listed.stdout and "completed" in listed.stdout
    doctor = _baton(private_home, dsn, "doctor")
    assert shown_dsn(dsn) in doctor.stdout and "PostgreSQL, 1 session" in doctor.stdout

    with psycopg.connect(dsn) as conn:
        stored = [r[0] for r in conn.execute("SELECT seq FROM events WHERE session_id = %s ORDER BY seq", (sid,))]
        status = conn.execute("SELECT status FROM sessions WHERE id = %s", (sid,)).fetchone()
        everything = "\n".join(
            str(row)
            for table in ("sessions", "events", "steps", "state", "llm_calls", "checkpoints", "commands")
            for row in conn.execute(f"SELECT * FROM {table}")
        )
    assert stored == list(range(1, len(stored) + 1)) and status == ("completed",)
    assert max(seqs) == stored[-1]
    logs = "\n".join(p.read_text() for p in private_home.rglob("*.log"))
    for text in (done.stdout, done.stderr, shown.stdout, listed.stdout, doctor.stdout, everything, logs):
        assert PASSWORD not in text


def test_a_runner_gets_the_servers_url_in_its_environment_not_on_its_command_line(
    dsn: str, private_home: Path
) -> None:
    process = spawn_runner(dsn, "00000000")
    try:
        assert process.wait(timeout=60) == 2, "no such session: the runner says so and exits"
    finally:
        process.kill()
    assert isinstance(process.args, list) and not any(PASSWORD in str(a) for a in process.args)
    assert "--db" not in process.args
    log = runner_log("00000000").read_text()
    assert "no session '00000000'" in log and PASSWORD not in log


@pytest.mark.e2e
def test_the_commands_show_a_failing_servers_url_without_its_password(pg_server: PgServer, private_home: Path) -> None:
    wrong = pg_server.dsn(tcp=True).replace(PASSWORD, "wrong-" + PASSWORD)
    listed = _baton(private_home, wrong, "sessions")
    assert listed.returncode == 2 and "cannot connect" in listed.stderr and ":***@" in listed.stderr
    doctor = _baton(private_home, wrong, "doctor")
    assert doctor.returncode == 1 and "cannot connect" in doctor.stdout and ":***@" in doctor.stdout
    for text in (listed.stdout, listed.stderr, doctor.stdout, doctor.stderr):
        assert PASSWORD not in text
