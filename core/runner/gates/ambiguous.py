"""A side-effecting tool whose intent was recorded and whose result was not: the runner stopped while
it ran, so it may or may not have acted. It is never silently re-run: a person runs it again, supplies
its result, or skips the step. Unattended, the session pauses for a person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask, Edit, Unattended
from baton.core.runner.gates.base import Accept, Gate, Verdict
from baton.core.runner.runtime import Runtime


@dataclass
class Ambiguous(Gate):
    """`tool` with `args` (idempotency key `key`) may have run."""

    path: str
    tool: str
    args: dict[str, Any]
    key: str
    edit: Edit
    call_key: str = ""
    """Set for a call of an agent's tool loop: tells its checkpoint apart from the turn's other calls."""
    options: tuple[str, ...] = ("approve", "edit", "skip", "pause")

    def ask(self, rt: Runtime) -> Ask:
        return Ask(
            self.path,
            "ambiguous",
            message=f"'{self.tool}' may or may not have run before the runner stopped "
            "(its intent was recorded, its result was not). Run it again, supply its result, or skip.",
            output=self.args,
            context={"args": self.args, "idempotency_key": self.key},
            options=list(self.options),
            edit=self.edit,
            key=self.call_key,
            skip_needs=rt.skip_needs(self.path),
            unattended=Unattended(
                "pause", f"side-effecting tool at '{self.path}' may or may not have run: a person must decide"
            ),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Accept(decision, decision.edited)
        return super().apply(decision)
