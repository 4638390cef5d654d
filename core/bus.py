"""The bus between a runner and its viewers: updates out, commands in.

Viewers (line mode, the TUI, the JSON printer) depend only on this. Two implementations live in
`sessions/`: tailing the SQLite store (the runner is another process) and in-process (tests, embedding).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from baton.core.commands import Command
from baton.core.events import Envelope, TokenDelta


@dataclass(frozen=True)
class RunnerLost:
    """The session is unfinished but no runner holds it (crashed, killed, or never started)."""

    reason: str


Update = Envelope | TokenDelta | RunnerLost
"""What a viewer receives: persisted events, streamed text of running calls (`TokenDelta`, never
persisted; the finished text arrives with `LLMCallFinished`), and news that the runner is gone."""


class Bus(Protocol):
    """What a viewer needs from a session."""

    session_id: str

    def updates(self) -> AsyncIterator[list[Update]]:
        """Batches of updates: the whole history first, then live ones as they are persisted."""
        ...

    async def send(self, command: Command) -> int:
        """Hand a command to the runner; returns its id."""
        ...

    async def outcome(self, command_id: int) -> tuple[str, str]:
        """(new | done | rejected, reason) of a sent command."""
        ...
