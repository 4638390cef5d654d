"""The session file of an end-to-end test; no background runner outlives the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hitl_e2e import OpenTerminal, Terminal, all_sessions, stop_runner


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """`tmp_path/baton.db`; afterwards, the runner of every session in it is killed if still alive."""
    path = tmp_path / "baton.db"
    yield path
    for session_id in all_sessions(path):
        stop_runner(path, session_id)


@pytest.fixture
def open_terminal() -> Iterator[OpenTerminal]:
    """Start `baton ARGS` in a pseudo-terminal; every one started is closed after the test."""
    opened: list[Terminal] = []

    def start(args: list[str], env: dict[str, str]) -> Terminal:
        terminal = Terminal(args, env)
        opened.append(terminal)
        return terminal

    yield start
    for terminal in opened:
        terminal.close()
