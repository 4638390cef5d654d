"""A `gate` step: a pure human checkpoint. Approve, edit the values it shows, reroute, or reject (the
session stops, failed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask
from baton.core.runner.context import SessionStop
from baton.core.runner.gates import edits
from baton.core.runner.gates.base import Accept, Gate, Verdict
from baton.core.runner.runtime import Runtime
from baton.core.spec.model import GateStep


@dataclass
class HumanGate(Gate):
    """The checkpoint of gate step `step` showing the values it reads."""

    path: str
    step: GateStep
    message: str
    values: dict[str, Any]
    can_reroute: bool

    def ask(self, rt: Runtime) -> Ask:
        targets = rt.reroute_targets(self.path) if self.can_reroute else []
        options = ["approve", "reject", "pause"]
        if self.step.read_keys:
            options.insert(1, "edit")
        if targets:
            options.insert(-1, "reroute")
        return Ask(
            self.path,
            "gate",
            message=self.message,
            output=dict(self.values) or None,
            context={"reads": dict(self.values)},
            options=options,
            targets=targets,
            edit=edits.values(self.step, rt, self.values),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        kind, by = decision.decision, decision.by
        if kind == "reject":
            feedback = f": {decision.feedback}" if decision.feedback else ""
            failed = ev.StepFailed(step=self.path, error=f"rejected by {by}{feedback}", error_type="rejected")
            raise SessionStop(f"gate '{self.path}' rejected by {by}{feedback}", self.path, "rejected", [failed])
        writes = dict(decision.edited or {}) if kind == "edit" else {}
        return Accept(decision, kind, jump=decision.target if kind == "reroute" else None, jump_by=by, writes=writes)
