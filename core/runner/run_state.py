"""The state of one run of a session, owned by the engine.

What the engine needs to end the session (which steps ran, which were interrupted, whether anything
was degraded, the tokens spent) and what navigation reads (the session state, what has finished). Steps
do not change it directly: the journal records step ends, the checkpoint inbox records who waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baton.core.runner.context import RunOptions, Scope
from baton.core.runner.history import History
from baton.core.spec.model import WorkflowSpec


@dataclass
class RunState:
    """Mutable facts of the run in progress."""

    root: Scope
    running: set[str] = field(default_factory=set)
    awaiting: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)
    degraded: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    pausing: str | None = None
    step_mode: bool = False
    breakpoints: set[str] = field(default_factory=set)
    caps: dict[str, float] = field(default_factory=dict)
    """Budget caps of steps entered so far (step path → USD)."""

    @classmethod
    def new(cls, spec: WorkflowSpec, options: RunOptions, history: History) -> RunState:
        """A run that starts from what the session's history already records."""
        return cls(
            root=Scope({}, dict(spec.state), root=True),
            finished=set(history.completed) | set(history.skipped),
            step_mode=options.step_mode,
            breakpoints=set(options.breakpoints),
            tokens_in=history.tokens_in,
            tokens_out=history.tokens_out,
        )

    @property
    def state(self) -> dict[str, Any]:
        """The session state as it stands."""
        return self.root.state

    def interrupted(self) -> list[str]:
        """Steps that were running (not waiting for a person, not finished): they run again on resume."""
        return sorted(self.running - self.awaiting - self.finished)
