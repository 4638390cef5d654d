"""Step mode and breakpoints: stopping before a step runs, so a person can run it, change its prompt or
model, skip it, or continue elsewhere.

A stop is a checkpoint like any other (`{path}:step_mode:1`, `{path}:breakpoint:1`): a resumed runner
re-opens the one that was waiting, or acts on its recorded decision, even if step mode was switched off
since.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from baton.core import events as ev
from baton.core.runner.checkpoints import Ask
from baton.core.runner.gates import edits
from baton.core.runner.gates.base import Gate, Proceed, Verdict, before_options
from baton.core.runner.runtime import Runtime
from baton.core.step_path import StepPath


def reason_before(rt: Runtime, path: str) -> str | None:
    """Why to stop before a step: a checkpoint already opened there (a resumed run re-opens it, or acts on
    its recorded decision, even if step mode was switched off since), else a breakpoint or step mode,
    unless the step has already made progress."""
    if path in rt.history.completed:
        return None
    for reason in ("breakpoint", "step_mode"):
        checkpoint_id = f"{path}:{reason}:1"
        if checkpoint_id in rt.checkpoints.decided or checkpoint_id in rt.checkpoints.opened:
            return reason
    stop = breakpoint_reason(rt, path)
    if stop is None or rt.history.output(path, 1) is not None or _begun(rt, path):
        return None
    return stop


def _begun(rt: Runtime, path: str) -> bool:
    """Has a resumed step already made progress (a child finished, or it opened a checkpoint)?"""
    return any(StepPath(p).strictly_under(path) for p in rt.history.completed) or any(
        StepPath(o.step).under(path) for o in rt.history.opened.values()
    )


def breakpoint_reason(rt: Runtime, path: str) -> str | None:
    """`breakpoint` when the step (by id or path) has one, `step_mode` when stepping, else None."""
    breakpoints = rt.state.breakpoints
    if breakpoints and (path in breakpoints or StepPath(path).id in breakpoints):
        return "breakpoint"
    if rt.state.step_mode:
        return "step_mode"
    return None


@dataclass
class BeforeModelStep(Gate):
    """Before a step that asks a model: run it, edit its prompt, pick another model, skip or reroute."""

    path: str
    reason: str
    alias: str
    prompt: str
    reads: dict[str, Any]
    forecasts: dict[str, Any]
    can_reroute: bool

    def ask(self, rt: Runtime) -> Ask:
        options, targets = before_options(rt, self.path, self.can_reroute, "edit", "retry_model")
        return Ask(
            self.path,
            self.reason,
            message=f"about to run '{self.path}' on {self.alias}",
            context={"reads": self.reads, "prompt": self.prompt, "model": self.alias},
            options=options,
            targets=targets,
            forecasts=self.forecasts,
            edit=edits.prompt(self.prompt),
            skip_needs=rt.skip_needs(self.path),
        )

    def apply(self, decision: ev.DecisionMade) -> Verdict:
        if decision.decision == "edit":
            return Proceed(decision, step_prompt=str(decision.edited))
        return super().apply(decision)


@dataclass
class BeforeStep(Gate):
    """Before a step that asks no model (a rules router, a composite step): run it, skip it or reroute."""

    path: str
    reason: str
    kind: str
    can_reroute: bool

    def ask(self, rt: Runtime) -> Ask:
        options, targets = before_options(rt, self.path, self.can_reroute)
        return Ask(
            self.path,
            self.reason,
            message=f"about to run '{self.path}' ({self.kind})",
            context={"kind": self.kind},
            options=options,
            targets=targets,
            skip_needs=rt.skip_needs(self.path),
        )


def before_step(rt: Runtime, path: str, kind: str, role: str) -> BeforeStep | None:
    """The stop before a step that asks no model, if there is one. A composite step stops only at a
    breakpoint named for it; step mode stops at the steps inside it (and at rules routers)."""
    reason = reason_before(rt, path)
    if reason is None or (reason == "step_mode" and kind != "router"):
        return None
    return BeforeStep(path, reason, kind, role == "top")
