"""Layer 1: a step's reads are missing or over their limits. Before any token is spent, a person supplies
the values (edit), skips the step, or pauses; unattended, the session stops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask, Unattended
from baton.core.runner.gates import edits
from baton.core.runner.gates.base import Gate, Proceed, Verdict
from baton.core.runner.runtime import Runtime
from baton.core.spec.model import StepBase


@dataclass
class InvalidInput(Gate):
    """The input check of `step` failed with `message`."""

    path: str
    round: int
    step: StepBase
    message: str
    state: dict[str, Any]
    degrades_on_skip = True

    def ask(self, rt: Runtime) -> Ask:
        return Ask(
            self.path,
            "escalation",
            message=f"input check failed: {self.message}",
            context={
                "error": self.message,
                "category": "input_invalid",
                "attempts": 0,
                "reads": {k: self.state.get(k) for k in self.step.read_keys},
            },
            options=["edit", "skip", "pause"],
            round=self.round,
            edit=edits.values(self.step, rt, self.state),
            skip_needs=rt.skip_needs(self.path),
            unattended=Unattended("stop", f"step '{self.path}': {self.message}", "input_invalid", before_opening=True),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Proceed(decision, values=dict(decision.edited or {}))
        return super().apply(decision)
