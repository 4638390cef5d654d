"""Escalations: every automatic layer has failed, so a person decides — never a silent skip.

A model call that failed through retries and fallbacks (try again, another model, edit the prompt,
skip), a tool that failed (run it again, supply its result, skip), a loop whose judge never passed (go
on with the work as it is, or pause). Skipping accepts the failure: the step and the session are marked
degraded. Unattended, the session fails instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask, Edit, Unattended
from baton.core.runner.context import SessionStop, StepFailure
from baton.core.runner.gates import edits
from baton.core.runner.gates.base import Accept, Gate, Proceed, Verdict
from baton.core.runner.runtime import Runtime


@dataclass
class CallFailed(Gate):
    """A step's model call failed after every layer."""

    path: str
    round: int
    failure: StepFailure
    prompt: str
    forecasts: dict[str, Any]
    degrades_on_skip = True

    def ask(self, rt: Runtime) -> Ask:
        failure = self.failure
        message = f"{failure.message} ({failure.detail or 'no attempts'})"
        return Ask(
            self.path,
            "escalation",
            message=message,
            context={
                "error": failure.message,
                "category": failure.category,
                "attempts": failure.attempts,
                "prompt": self.prompt,
            },
            options=["approve", "retry_model", "edit", "skip", "pause"],
            forecasts=self.forecasts,
            round=self.round,
            edit=edits.prompt(self.prompt),
            skip_needs=rt.skip_needs(self.path),
            unattended=Unattended("stop", message, "escalation"),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Proceed(decision, prompt=str(decision.edited))
        return super().apply(decision)


def call_failed(
    rt: Runtime, path: str, round_: int, failure: StepFailure, prompt: str, forecasts: dict[str, Any]
) -> CallFailed:
    """The escalation for a failed call; past the session's escalation limit the session stops instead."""
    if round_ > rt.options.escalation_limit:
        raise SessionStop(f"step '{path}' failed: {failure.message}", path, failure.category) from None
    return CallFailed(path, round_, failure, prompt, forecasts)


@dataclass
class ToolFailed(Gate):
    """A tool raised, timed out, or returned what cannot be stored. Unattended, the session stops at once."""

    path: str
    round: int
    tool: str
    what: str
    detail: str
    args: dict[str, Any]
    edit: Edit
    call_key: str = ""
    """Set for a call of an agent's tool loop: tells its checkpoint apart from the turn's other calls."""
    degrades_on_skip = True

    def ask(self, rt: Runtime) -> Ask:
        return Ask(
            self.path,
            "escalation",
            key=self.call_key,
            message=f"tool '{self.tool}' {self.what}",
            context={"error": self.detail, "category": "tool_error", "attempts": self.round, "args": self.args},
            options=["approve", "edit", "skip", "pause"],
            round=self.round,
            edit=self.edit,
            skip_needs=rt.skip_needs(self.path),
            unattended=Unattended(
                "stop", f"tool '{self.tool}' at '{self.path}' {self.what}", "tool_error", before_opening=True
            ),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Accept(decision, decision.edited)
        return super().apply(decision)


@dataclass
class JudgeFailed(Gate):
    """A loop reached `max_iterations` without its judge (or `until` rule) passing the work."""

    path: str
    message: str
    iterations: int

    def ask(self, rt: Runtime) -> Ask:
        return Ask(
            self.path,
            "escalation",
            message=self.message,
            context={"error": self.message, "category": "judge_failed", "attempts": self.iterations},
            options=["approve", "pause"],
            unattended=Unattended("stop", self.message, "escalation"),
        )
