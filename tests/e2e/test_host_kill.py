"""A runner host killed with SIGKILL on SQLite: a second host on the same machine takes its sessions over.

Six sessions of the crash-drill workflow (fan-outs, a map, counted tool steps) run on one real
`baton host` process; it is killed while some have committed steps and others have not; a second
`baton host` takes every session over (the first's pid is gone, so at once) and finishes them. Checked:
every session completes; per step path, the survivor ran it exactly as often as it completed after the
kill (a step committed before the kill never runs again); sequence numbers stay contiguous; the
database's integrity holds; `baton hosts` lists only the survivor.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

from baton.sessions.store import Store
from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv
from tests.e2e.kill_flow import harness as h
from tests.helpers import wait_for as until

SESSIONS = 6
TIMEOUT = 180.0


def start_host(env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """A real `baton host` in the foreground, once it says it is ready."""
    proc = subprocess.Popen(
        [*baton_argv(), "host", "--lease-ttl", "3"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("host ") and line.strip().endswith(" ready"), (line, proc.stderr and proc.stderr.read())
    return proc, line.split()[1]


def enqueue(db: Path, sids: list[str]) -> None:
    async def go() -> None:
        store = await Store.open(db)
        try:
            for sid in sids:
                assert await store.enqueue(sid)
        finally:
            await store.close()

    asyncio.run(go())


def statuses(db: Path) -> dict[str, str]:
    return dict(h.table(db, "SELECT id, status FROM sessions"))


def test_a_killed_hosts_sessions_finish_on_another_host(db: Path, private_home: Path, tmp_path: Path) -> None:
    counter = tmp_path / "counter.txt"
    env = h.env_with(baton_env(private_home, db), DRILL_COUNTER=str(counter))
    sids = [h.create(db) for _ in range(SESSIONS)]
    first, first_id = start_host(env)
    survivor = None
    try:
        enqueue(db, sids)

        def some_done_some_not() -> bool:
            done = [len(h.completions(h.rows(db, s))) for s in sids]
            return max(done) >= 6 and min(done) < 20

        until(some_done_some_not, "some sessions to have committed steps while others have not")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = {s: h.last_seq(db, s) for s in sids}
        before = {s: set(h.completions(h.rows(db, s))) for s in sids}
        assert any(statuses(db)[s] != "completed" for s in sids), "the kill landed after everything ended"

        survivor, survivor_id = start_host(env)
        until(lambda: all(statuses(db)[s] == "completed" for s in sids), "every session to complete on the survivor")

        ran_after = Counter(path for pid, path in h.counter_lines(counter) if pid == survivor.pid)
        completed_after: Counter[str] = Counter()
        for sid in sids:
            stored = h.rows(db, sid)
            seqs = [r.seq for r in stored]
            assert seqs == list(range(1, len(seqs) + 1)), f"{sid}: sequence numbers not contiguous"
            assert seqs[: at_kill[sid]] == list(range(1, at_kill[sid] + 1))
            done = h.completions(stored)
            assert before[sid] <= set(done), f"{sid}: a step committed before the kill lost its completion"
            counted = {p for p in done if p in _counted_paths(counter)}
            completed_after.update(p for p in counted if p not in before[sid])
        assert ran_after == completed_after, "the survivor ran exactly the counted steps not committed before the kill"
        assert h.integrity(db) == "ok"

        hosts = subprocess.run(
            [*baton_argv(), "hosts", "--json"], env=env, capture_output=True, text=True, timeout=60, check=True
        )
        listed = [json.loads(line) for line in hosts.stdout.splitlines()]
        assert [row["id"] for row in listed] == [survivor_id] and first_id != survivor_id
        assert h.table(db, "SELECT COUNT(*) FROM work")[0][0] == 0
    finally:
        for proc in (first, survivor):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


def _counted_paths(counter: Path) -> set[str]:
    return {path for _, path in h.counter_lines(counter)}
