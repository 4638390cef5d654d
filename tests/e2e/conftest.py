"""The session file and terminals of an end-to-end test (a runner left behind is killed after the test by
`private_home`, in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.hitl_e2e import OpenTerminal, Terminal


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """`tmp_path/baton.db`."""
    return tmp_path / "baton.db"


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
