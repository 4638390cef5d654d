"""The one place where the runner's events become durable, and the list of moments that commit.

A step hands its events here; it never talks to the store. Each method that awaits is a commit point
of the contract in the design: a step's end (output, state update and events in one transaction), a
skip, a side-effecting tool's intent (durable before the tool runs), a checkpoint opening (with the
output it shows), a decision (durable before it is acted on), and the session's own records. Everything
else (`note`) is informational and rides with the next commit, so a step costs one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from baton.core import events as ev
from baton.core.runner.context import Sink
from baton.core.runner.run_state import RunState


class Journal:
    """Commits events through the session's sink and keeps the run state in step with what committed."""

    __slots__ = ("_state", "sink")

    def __init__(self, sink: Sink, state: RunState) -> None:
        self.sink = sink
        self._state = state

    # --- informational: persisted with the next commit -------------------------------------------

    def note(self, events: Sequence[ev.Event]) -> None:
        """Events that need not be durable on their own (a step started, a call started, a retry)."""
        self.sink.post(events)

    def live(self, path: str, call_id: str, text: str) -> None:
        """Streamed text of a call (ephemeral: the finished text is persisted with the call)."""
        self.sink.delta(path, call_id, text)

    def begin(self, path: str) -> None:
        """A step is running: if the session stops now, it is recorded as cancelled and runs again."""
        self._state.running.add(path)

    # --- commit points ---------------------------------------------------------------------------

    async def step_ended(self, path: str, events: Sequence[ev.Event], degraded: bool = False) -> None:
        """A step's completion or skip record: after it commits the step never runs again."""
        await self.sink.commit(events)
        state = self._state
        state.running.discard(path)
        state.finished.add(path)
        if degraded:
            state.degraded = True

    def passed_over(self, paths: Sequence[str]) -> None:
        """Steps a jump passes over count as finished (their skips commit with the jump)."""
        self._state.finished.update(paths)

    async def intent(self, event: ev.ToolCallIntent) -> None:
        """A side-effecting tool's intent: durable before the tool runs, so a crash is never a silent re-run."""
        await self.sink.commit([event])

    async def checkpoint(self, events: Sequence[ev.Event]) -> None:
        """A checkpoint opening, with what it shows (the output, the call that made it)."""
        await self.sink.commit(events)

    async def decision(self, event: ev.Event, command_id: int = 0) -> None:
        """A decision (and the command it answers): durable before the runner acts on it."""
        await self.sink.commit([event], command_id=command_id)

    async def session(self, events: Sequence[ev.Event], command_id: int = 0) -> None:
        """Session-level records: start, resume, control changes, the end."""
        await self.sink.commit(events, command_id=command_id)

    async def refuse(self, command_id: int, reason: str) -> None:
        """Tell a command's sender why it was refused."""
        await self.sink.reject_command(command_id, reason)
