"""`baton decide` at a tool call, the real command against a stored session no runner holds: deny, always
(scoped by `--pattern`), an edit of the arguments from a file, a call named by its id; the decisions are
queued as the runner will read them."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

from baton.core.commands import Command
from baton.sessions.store import Store
from tests.conftest import baton_env
from tests.e2e.hitl_e2e import baton_argv
from tests.tui.tool_session import STEP, stored, tool_loop

C3, C4 = f"{STEP}:tool_call:1:t2:c3", f"{STEP}:tool_call:1:t2:c4"


def _stored(db: Path) -> str:
    async def go() -> str:
        async with await Store.open(db) as store:
            return await stored(store, tool_loop())

    return asyncio.run(go())


def _queued(db: Path, session: str) -> list[Command]:
    async def go() -> list[Command]:
        async with await Store.open(db) as store:
            return await store.pending_commands(session)

    return asyncio.run(go())


def test_deny_always_with_a_pattern_and_an_edit_from_a_file(tmp_path: Path, private_home: Path) -> None:
    db = tmp_path / "b.db"
    session = _stored(db)
    env = baton_env(private_home, db)

    def decide(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        argv = [*baton_argv(), "decide", session, *args]
        return subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True, timeout=90)

    always = decide("c4", "always", "--pattern", "path=reports/*", "--pattern", "text=*")
    assert always.returncode == 0, always.stderr
    assert always.stdout.startswith(f"always: {C4} queued")
    deny = decide(STEP, "deny")
    assert deny.returncode == 0 and deny.stdout.startswith(f"deny: {C3} queued"), "a step names its oldest call"
    edit = decide(C3, "edit", "--edited", "-", stdin='{"path": "reports/short.md", "text": "Short."}')
    assert edit.returncode == 0, edit.stderr
    queued = [(c.checkpoint_id, c.decision, c.edited, c.by) for c in _queued(db, session)]
    assert queued == [
        (C4, "always", {"path": "reports/*", "text": "*"}, "tester"),
        (C3, "deny", None, "tester"),
        (C3, "edit", {"path": "reports/short.md", "text": "Short."}, "tester"),
    ]
    assert {c.where for c in _queued(db, session)} == {f"cli on {socket.gethostname()}"}, "no terminal here"

    bad = decide("c4", "always", "--pattern", "reports")
    assert (bad.returncode, bad.stderr.strip()) == (2, "--pattern: a grant pattern is 'argument=glob', not 'reports'")
    misplaced = decide("c4", "approve", "--pattern", "path=x")
    assert misplaced.returncode == 2 and "scopes an 'always' decision" in misplaced.stderr
    assert len(_queued(db, session)) == 3, "nothing was sent for a refused command line"
