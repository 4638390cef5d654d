"""The real `baton` in a real terminal (tmux): three sessions started with `baton run --detach` stop at their
review checkpoints; a person answers all three from `baton inbox` without attaching (one with `a`, then the
other two as a batch with `s` and `a`); all three complete, and the store records who decided."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, baton_env
from tests.e2e.test_tui_journeys import BATON, REVIEWED, Terminal, _wait_ended, _wait_file

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


@pytest.fixture
def env(private_home: Path, db_path: Path) -> dict[str, str]:
    return baton_env(private_home, db_path)


@pytest.fixture
def terminal(env: dict[str, str]) -> Iterator[Terminal]:
    term = Terminal(env)
    try:
        yield term
    finally:
        term.close()


def baton(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BATON, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def inbox_json(env: dict[str, str]) -> list[dict[str, object]]:
    result = baton(env, "inbox", "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def wait_inbox(env: dict[str, str], count: int, timeout: float = 60.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    items = inbox_json(env)
    while len(items) != count:
        assert time.monotonic() < deadline, f"the inbox lists {len(items)}, not {count}: {items}"
        time.sleep(0.2)
        items = inbox_json(env)
    return items


def decisions(db: Path, session_id: str) -> list[dict[str, object]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT payload FROM events WHERE session_id = ? AND kind = 'DecisionMade' ORDER BY seq", (session_id,)
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


def test_three_sessions_answered_from_the_inbox_without_attaching(
    terminal: Terminal, env: dict[str, str], db_path: Path, tmp_path: Path
) -> None:
    flow = tmp_path / "reviewed.yaml"
    flow.write_text(REVIEWED)
    ids = []
    for _ in range(3):
        started = baton(env, "run", str(flow), "--detach")
        assert started.returncode == 0, started.stderr
        ids.append(started.stdout.strip().splitlines()[-1])
    items = wait_inbox(env, 3)
    assert {i["session_id"] for i in items} == set(ids)
    assert all(i["step"] == "draft" and i["asked"] == "review" and i["workflow"] == "reviewed" for i in items)
    oldest = str(items[0]["session_id"])

    table = baton(env, "inbox", "--table")
    assert table.returncode == 0 and all(sid in table.stdout for sid in ids), table.stdout

    exit_file = tmp_path / "exit"
    w = terminal.start(f"{BATON} inbox", exit_file)
    terminal.wait(w, lambda s: all(sid in s for sid in ids) and "3 waiting" in s)
    terminal.keys(w, "a")
    assert _wait_ended(db_path, oldest) == "SessionCompleted"
    terminal.wait(w, lambda s: oldest not in s and "2 waiting" in s)
    terminal.keys(w, "s")
    terminal.wait(w, "2 marked")
    terminal.keys(w, "a")
    for sid in ids:
        assert _wait_ended(db_path, sid) == "SessionCompleted"
        (decided,) = decisions(db_path, sid)
        assert decided["decision"] == "approve" and decided["by"] == "tester"
    terminal.wait(w, "0 waiting")
    terminal.keys(w, "q")
    assert _wait_file(exit_file) == "0"
    assert inbox_json(env) == []
    assert "nothing is waiting" in baton(env, "inbox").stdout
