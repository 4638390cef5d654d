"""Driving the real `baton` command in a pseudo-terminal (pexpect) and reading what it recorded.

Nothing is mocked: `baton run` starts its background runner process, which talks to the offline model
through litellm; the test types keys like a person and reads the session back from the SQLite file.
"""

from __future__ import annotations

import asyncio
import re
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect

from baton.core import events as ev
from baton.sessions.store import Store
from tests.conftest import ROOT, baton_env

ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")


def baton_argv() -> list[str]:
    """The installed `baton` command (or the module, when the venv has no script)."""
    script = ROOT / ".venv" / "bin" / "baton"
    return [str(script)] if script.exists() else [sys.executable, "-m", "baton.tui.cli"]


def write_flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    """A workflow file for the command line."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def stub_editor(tmp_path: Path, text: str, name: str = "editor.py") -> Path:
    """An `$EDITOR` that replaces the file it is given with `text` (what a person would save)."""
    path = tmp_path / name
    path.write_text(
        f"#!{sys.executable}\nimport sys\nopen(sys.argv[-1], 'w', encoding='utf-8').write({text!r})\n",
        encoding="utf-8",
    )
    path.chmod(0o755)
    return path


class Terminal:
    """One `baton` command in a pseudo-terminal of 50×140."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        argv = [*baton_argv(), *args]
        self.child = pexpect.spawn(
            argv[0], argv[1:], env=env, cwd=str(cwd or ROOT), dimensions=(50, 140), encoding="utf-8", timeout=60
        )
        self.child.delaybeforesend = None
        self.seen = ""
        self.raw = ""

    def expect(self, pattern: str, timeout: float = 60) -> str:
        """Wait for `pattern` (a regex over the screen text without escape sequences); returns what came before."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        while True:
            match = compiled.search(self.seen)
            if match is not None:
                before, self.seen = self.seen[: match.start()], self.seen[match.end() :]
                return before
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; screen tail:\n{self.seen[-3000:]}")
            try:
                chunk = self.child.read_nonblocking(65536, timeout=min(left, 0.5))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                match = compiled.search(self.seen)
                if match is not None:
                    continue
                raise AssertionError(
                    f"the command ended before {pattern!r}; screen tail:\n{self.seen[-3000:]}"
                ) from None
            self.seen += ANSI.sub("", chunk)

    def send(self, text: str) -> None:
        """Type `text`."""
        self.child.send(text)

    def line(self, text: str) -> None:
        """Type `text` and Enter."""
        self.child.send(text + "\r")

    def wait_exit(self, timeout: float = 60) -> int:
        """Read to the end; returns the exit status."""
        deadline = time.monotonic() + timeout
        while self.child.isalive() and time.monotonic() < deadline:
            try:
                chunk = self.child.read_nonblocking(65536, timeout=0.5)
                self.raw += chunk
                self.seen += ANSI.sub("", chunk)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                break
        self.child.close()
        assert self.child.exitstatus is not None, f"still running; screen tail:\n{self.seen[-3000:]}"
        return int(self.child.exitstatus)

    def close(self) -> None:
        """Stop the viewer if it still runs."""
        if self.child.isalive():
            self.child.terminate(force=True)


OpenTerminal = Callable[[list[str], dict[str, str]], Terminal]  # the `open_terminal` fixture


def env_for(home: Path, db: Path, **extra: str) -> dict[str, str]:
    """`baton_env` for a pseudo-terminal: no colour noise in matches, no cursor-position queries."""
    env = baton_env(home, db, **extra)
    env.update({"TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1", "BATON_LINE": "1", "COLUMNS": "140"})
    for name in ("EDITOR", "VISUAL"):
        if name not in extra:
            env.pop(name, None)
    return env


def session_events(db: Path, session_id: str) -> list[ev.Envelope]:
    """A session's persisted events, read from the file."""

    async def read() -> list[ev.Envelope]:
        store = await Store.open(db)
        try:
            return await store.events(await store.resolve(session_id))
        finally:
            await store.close()

    return asyncio.run(read())


def all_sessions(db: Path) -> list[str]:
    """The ids of every session in the file, oldest first (none when there is no file)."""
    if not db.exists():
        return []

    async def read() -> list[str]:
        store = await Store.open(db)
        try:
            return [r.id for r in reversed(await store.sessions())]
        finally:
            await store.close()

    return asyncio.run(read())


def only_session(db: Path) -> str:
    """The id of the one session in the file."""
    ids = all_sessions(db)
    assert len(ids) == 1, ids
    return ids[0]


def runner_pid(db: Path, session_id: str) -> int | None:
    """The pid holding the session's lease, if a runner holds it."""

    async def read() -> int | None:
        store = await Store.open(db)
        try:
            lease = await store.lease(session_id)
            alive = await store.runner_alive(session_id)
        finally:
            await store.close()
        return lease[0] if lease and alive else None

    return asyncio.run(read())


def of_kind(envelopes: list[ev.Envelope], kind: type[ev.Event], step: str | None = None) -> list[Any]:
    """Events of one kind (at one step path, if given)."""
    return [e.event for e in envelopes if isinstance(e.event, kind) and (step is None or e.event.step == step)]


def live_calls(envelopes: list[ev.Envelope], step: str) -> list[ev.LLMCallFinished]:
    """Model calls a step really made (answers replayed from the record excluded)."""
    return [e for e in of_kind(envelopes, ev.LLMCallFinished, step) if not e.replayed and e.status == "ok"]
