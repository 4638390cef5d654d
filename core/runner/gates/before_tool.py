"""Before a tool runs: a side-effecting tool (unless `review: never`), `review: before_tools`, step mode
or a breakpoint. The person sees the exact arguments and may run it, edit them, skip it or reroute."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask
from baton.core.runner.gates import edits
from baton.core.runner.gates.base import Gate, Proceed, Verdict, before_options
from baton.core.runner.runtime import Runtime
from baton.core.spec.model import ToolStep


def asks_first(step: ToolStep) -> bool:
    """Does this tool's policy ask before it runs (side effects, unless `review: never`)?"""
    review = step.review
    if review.before_tools is not None:
        return review.before_tools
    return review.mode == "always" or (step.side_effects and review.mode != "never")


@dataclass
class BeforeTool(Gate):
    """Run `tool` with `args`? `reason` is before_tool, or step_mode / breakpoint."""

    path: str
    reason: str
    tool: str
    args: dict[str, Any]
    side_effects: bool
    can_reroute: bool

    def ask(self, rt: Runtime) -> Ask:
        options, targets = before_options(rt, self.path, self.can_reroute, "edit")
        return Ask(
            self.path,
            self.reason,
            message=f"run {self.tool}({', '.join(self.args)})"
            + (" — it has side effects" if self.side_effects else ""),
            output=self.args,
            context={"args": self.args, "side_effects": self.side_effects},
            options=options,
            targets=targets,
            edit=edits.arguments(self.args),
            skip_needs=rt.skip_needs(self.path),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Proceed(decision, args=dict(decision.edited))
        return super().apply(decision)
