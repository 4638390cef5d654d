"""Step mode and breakpoints: stopping before a step runs, so a person can run it, change its prompt or
model, skip it, or continue elsewhere.

A stop is a checkpoint like any other (`{path}:step_mode:1`, `{path}:breakpoint:1`): a resumed runner
re-opens the one that was waiting, or acts on its recorded decision, even if step mode was switched off
since.
"""

from __future__ import annotations

from baton.core.runner.context import Scope, StepOutcome
from baton.core.runner.needs import step_id
from baton.core.runner.outputs import skip
from baton.core.runner.runtime import Ask, Runtime


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
    if rt.history.output(path, 1) is not None or _begun(rt, path):
        return None
    return breakpoint_reason(rt, path)


def _begun(rt: Runtime, path: str) -> bool:
    """Has a resumed step already made progress (a child finished, or it opened a checkpoint)?"""
    inside = (path + "/", path + "[", path + "#")
    return any(p.startswith(inside) for p in rt.history.completed) or any(
        o.step == path or o.step.startswith(inside) for o in rt.history.opened.values()
    )


async def pause_before(rt: Runtime, path: str, scope: Scope, kind: str, role: str) -> StepOutcome | None:
    """Step mode and breakpoints before a step that asks no model (a rules router, a composite step).

    A composite step stops only at a breakpoint named for it; step mode stops at the steps inside it.
    Returns the outcome when the person skipped or rerouted, None to run the step."""
    reason = reason_before(rt, path)
    if reason is None or (reason == "step_mode" and kind != "router"):
        return None
    targets = targets_before(rt, path) if role == "top" else []
    decision = await rt.checkpoints.ask(
        Ask(
            path,
            reason,
            message=f"about to run '{path}' ({kind})",
            context={"kind": kind},
            options=["approve", "skip", "pause"] + (["reroute"] if targets else []),
            targets=targets,
            skip_needs=rt.skip_needs(path),
        )
    )
    if decision.decision == "skip":
        return await skip(rt, scope, path, decision)
    if decision.decision == "reroute":
        return await skip(rt, scope, path, decision, jump=decision.target)
    return None


def targets_before(rt: Runtime, path: str) -> list[str]:
    """Reroute targets from a step that has not run: its own writes will not exist, so a target must
    do without them."""
    return rt.reroute_targets(path, ran=False)


def breakpoint_reason(rt: Runtime, path: str) -> str | None:
    """`breakpoint` when the step (by id or path) has one, `step_mode` when stepping, else None."""
    if path in rt.breakpoints or step_id(path.rsplit("/", 1)[-1]) in rt.breakpoints:
        return "breakpoint"
    if rt.step_mode:
        return "step_mode"
    return None
