"""An in-memory `Sink`: each commit is one batch (posted events first, as the store writes them), so
runner tests see exactly what would be one transaction, with no SQLite and no writer task."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from baton.core import events as ev


@dataclass
class MemorySink:
    """The runner's sink, kept in lists: `batches` (one per transaction), `deltas`, `refused`, `acknowledged`."""

    batches: list[list[ev.Event]] = field(default_factory=list)
    deltas: list[tuple[str, str, str]] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)
    acknowledged: list[int] = field(default_factory=list)
    pending: list[ev.Event] = field(default_factory=list)

    async def commit(self, events: Sequence[ev.Event], *, command_id: int = 0) -> None:
        """One transaction: whatever was posted, then `events`."""
        batch, self.pending = [*self.pending, *events], []
        self.batches.append(batch)
        if command_id:
            self.acknowledged.append(command_id)

    def post(self, events: Sequence[ev.Event]) -> None:
        """Held for the next commit."""
        self.pending.extend(events)

    def delta(self, step: str, call_id: str, text: str) -> None:
        """Live text."""
        self.deltas.append((step, call_id, text))

    async def reject_command(self, command_id: int, reason: str) -> None:
        """A refused command and why."""
        self.refused[command_id] = reason

    # --- reading ---------------------------------------------------------------------------------

    @property
    def events(self) -> list[ev.Event]:
        """Every committed event, in order."""
        return [e for batch in self.batches for e in batch]

    def of(self, kind: type[Any], step: str | None = None) -> list[Any]:
        """Committed events of one kind (at one step path, if given)."""
        return [e for e in self.events if isinstance(e, kind) and (step is None or e.step == step)]

    def envelopes(self, session_id: str = "s") -> list[ev.Envelope]:
        """The committed events as a store would return them (for a resumed runner's history)."""
        now = time.time()
        return [ev.Envelope(session_id, i, now, e) for i, e in enumerate(self.events, 1)]
