"""One runner per session: real runner processes, a second one refused, a killed one's lease taken over,
and every exit path of the runner process closing its connection (the process ends promptly)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from baton.core.runner import RunOptions
from baton.sessions import host as host_module
from baton.sessions.host import SessionHost
from baton.sessions.schema import LATEST
from baton.sessions.store import SessionInUse, Store
from tests.conftest import ROOT, baton_env
from tests.e2e.kill_flow import harness as h
from tests.helpers import FLOWS, Session

EXIT_PROMPTLY_S = 60  # a process kept alive by an unclosed connection thread would hit this


def _wait(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _open_checkpoint(db: Path, sid: str) -> bool:
    return any(r.kind == "CheckpointOpened" for r in h.rows(db, sid))


def _lease_pid(db: Path, sid: str) -> int | None:
    rows = h.table(db, "SELECT pid FROM leases WHERE session_id = ?", sid)
    return int(rows[0][0]) if rows else None


def _log(home: Path, sid: str) -> str:
    return (home / "xdg_state_home" / "baton" / "logs" / f"{sid}.log").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_second_runner_is_refused_and_a_killed_runners_lease_is_taken_over(db_path: Path, private_home: Path) -> None:
    env = h.env_with(baton_env(private_home, db_path))
    sid = h.create(db_path, FLOWS / "gate.yaml", RunOptions())
    first = h.spawn(db_path, sid, env)
    try:
        _wait(lambda: _open_checkpoint(db_path, sid), "the gate's checkpoint")
        assert _lease_pid(db_path, sid) == first.pid

        second = h.spawn(db_path, sid, env)
        assert second.wait(timeout=EXIT_PROMPTLY_S) == 3
        assert f"session {sid} in use by pid {first.pid}" in _log(private_home, sid)

        cli = subprocess.run(
            [sys.executable, "-m", "baton.tui.cli", "resume", sid, "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=EXIT_PROMPTLY_S,
        )
        assert cli.returncode == 3, cli
        assert f"session {sid} in use by pid {first.pid}" in cli.stderr
        rm = subprocess.run(
            [sys.executable, "-m", "baton.tui.cli", "rm", sid, "--yes"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=EXIT_PROMPTLY_S,
        )
        assert rm.returncode == 3 and "is running" in rm.stderr, rm

        async def in_process() -> None:
            store = await Store.open(db_path)
            try:
                with pytest.raises(SessionInUse, match=f"in use by pid {first.pid}"):
                    await store.acquire_lease(sid)
                assert await store.runner_alive(sid)
            finally:
                await store.close()

        asyncio.run(in_process())
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)

    assert _lease_pid(db_path, sid) == first.pid, "a killed runner cannot release its lease"
    resumed = h.spawn(db_path, sid, env, "--options", '{"auto": "approve"}')
    assert resumed.wait(timeout=120) == 0, _log(private_home, sid)
    assert _lease_pid(db_path, sid) is None
    assert h.fold(sid, h.rows(db_path, sid)).status == "completed"


async def test_a_lease_held_on_another_host_is_honoured_until_it_expires(store: Store, db_path: Path) -> None:
    sid = await store.create_session("w", workflow_path="", workflow_hash="", workflow_text="", inputs={}, options={})
    other = "elsewhere" if socket.gethostname() != "elsewhere" else "elsewhere-2"
    conn = sqlite3.connect(str(db_path))
    with conn:
        conn.execute("INSERT INTO leases VALUES (?, 4242, ?, 'tok', ?, ?)", (sid, other, time.time(), time.time() + 60))
    with pytest.raises(SessionInUse, match=f"in use by pid 4242 on {other}"):
        await store.acquire_lease(sid)
    assert await store.runner_alive(sid)
    with conn:
        conn.execute("UPDATE leases SET expires_at = ? WHERE session_id = ?", (time.time() - 1, sid))
    conn.close()
    assert not await store.runner_alive(sid)
    token = await store.acquire_lease(sid)
    assert await store.lease(sid) == (os.getpid(), socket.gethostname(), pytest.approx(time.time() + 15, abs=5))
    assert await store.renew_lease(sid, token)
    assert not await store.renew_lease(sid, "not-mine")


async def test_a_runner_whose_lease_is_taken_over_stops(
    store: Store, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host_module, "LEASE_TTL_S", 0.3)
    session = await Session.start(store, "gate")
    await session.checkpoint("approve_draft")
    conn = sqlite3.connect(str(db_path))
    with conn:
        conn.execute("UPDATE leases SET token = 'someone-else', pid = 1 WHERE session_id = ?", (session.id,))
    conn.close()
    assert await session.finish(timeout=30) == "cancelled"
    view = await session.view()
    assert view.status == "cancelled" and "another runner took the session over" in view.reason


def _runner(db: Path, sid: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "baton.sessions.runner_main", "--db", str(db), "--session", sid],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=EXIT_PROMPTLY_S,
    )


@pytest.mark.slow
def test_every_exit_path_of_the_runner_process_ends_it_promptly(db_path: Path, private_home: Path) -> None:
    env = h.env_with(baton_env(private_home, db_path))
    sid = h.create(db_path, FLOWS / "gate.yaml", RunOptions())

    assert _runner(db_path, "nosuchsession", env).returncode == 2  # unknown session
    assert "no session 'nosuchsession'" in _log(private_home, "nosuchsession")

    proc = h.spawn(db_path, sid, env)  # waiting at a checkpoint, then SIGTERM: paused as cancelled
    _wait(lambda: _open_checkpoint(db_path, sid), "the gate's checkpoint")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=EXIT_PROMPTLY_S) == 4
    view = h.fold(sid, h.rows(db_path, sid))
    assert view.status == "cancelled" and "SIGTERM" in view.reason
    assert _lease_pid(db_path, sid) is None

    bad = h.create(db_path, FLOWS / "agent.yaml")  # a workflow that no longer loads: failed, exit 2
    conn = sqlite3.connect(str(db_path))
    with conn:
        conn.execute("UPDATE sessions SET workflow_text = 'name: [' WHERE id = ?", (bad,))
    done = _runner(db_path, bad, env)
    assert done.returncode == 2, done
    assert "Traceback" not in _log(private_home, bad)
    assert _lease_pid(db_path, bad) is None

    with conn:
        conn.execute(f"PRAGMA user_version={LATEST + 1}")  # written by a newer baton: refused, exit 2
    conn.close()
    newer = _runner(db_path, sid, env)
    assert newer.returncode == 2, newer
    assert "newer baton" in _log(private_home, sid)


def test_the_runner_log_is_private(db_path: Path, private_home: Path) -> None:
    env = h.env_with(baton_env(private_home, db_path))
    env_umask = {**env}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, runpy, sys; os.umask(0o022); sys.argv = sys.argv[1:];"
            " runpy.run_module('baton.sessions.runner_main', run_name='__main__')",
            "runner",
            "--db",
            str(db_path),
            "--session",
            "nolog",
        ],
        cwd=ROOT,
        env=env_umask,
        capture_output=True,
        text=True,
        timeout=EXIT_PROMPTLY_S,
    )
    assert out.returncode == 2, out
    log = private_home / "xdg_state_home" / "baton" / "logs" / "nolog.log"
    assert oct(log.stat().st_mode & 0o777) == oct(0o600)
    assert oct(log.parent.stat().st_mode & 0o777) == oct(0o700)


async def test_a_second_runner_in_the_same_process_is_refused_too(store: Store, db_path: Path) -> None:
    session = await Session.start(store, "gate")
    await session.checkpoint("approve_draft")
    with pytest.raises(SessionInUse, match=f"in use by pid {os.getpid()}"):
        await SessionHost(store, session.id).run()
    assert session.task is not None and not session.task.done()
    session.host.runner.cancel("cancelled by the test")  # type: ignore[union-attr]
    assert await session.finish() == "cancelled"
    assert await store.lease(session.id) is None

    # a lease this process left behind without a live runner (its token is not held) is taken over
    conn = sqlite3.connect(str(db_path))
    with conn:
        conn.execute(
            "INSERT INTO leases VALUES (?, ?, ?, 'left-behind', ?, ?)",
            (session.id, os.getpid(), socket.gethostname(), time.time(), time.time() + 60),
        )
    conn.close()
    await session.resume(RunOptions(auto="approve"))
    assert await session.finish() == "completed"
