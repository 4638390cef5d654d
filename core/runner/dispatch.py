"""Run (or replay) any step: the one entry every parent uses for its children."""

from __future__ import annotations

from typing import Any

from baton.core.runner import composite, leaf
from baton.core.runner.context import Scope, StepOutcome
from baton.core.runner.runtime import Runtime
from baton.core.runner.stepping import pause_before
from baton.core.spec.model import (
    AgentStep,
    GateStep,
    LoopStep,
    MapStep,
    ParallelStep,
    RouterStep,
    SequenceStep,
    Step,
    SupervisorStep,
    ToolStep,
)


def replayed(rt: Runtime, path: str, scope: Scope) -> StepOutcome | None:
    """The recorded outcome of a step that already completed or was skipped, applied to `scope`
    without any event: a step never runs again after its completion record committed."""
    done = rt.history.completed.get(path)
    if done is not None:
        if done.writes:
            scope.apply(dict(done.writes))
        if done.status == "degraded":
            rt.degraded = True
        return StepOutcome(
            done.status,
            done.output,
            dict(done.writes),
            done.next or None,
            done.tokens_in,
            done.tokens_out,
            done.cost_usd,
        )
    skipped = rt.history.skipped.get(path)
    if skipped is not None:
        if skipped.supplied:
            scope.apply(dict(skipped.supplied))
        return StepOutcome("skipped", None, dict(skipped.supplied), skipped.next or None)
    return None


async def run_step(
    rt: Runtime, step: Step, path: str, scope: Scope, variables: dict[str, Any], role: str
) -> StepOutcome:
    """Replay a recorded step, or run it."""
    recorded = replayed(rt, path, scope)
    if recorded is not None:
        return recorded
    rt.check_pause()
    if step.budget is not None:
        rt.caps[path] = step.budget.max_usd
    rt.running.add(path)
    if isinstance(step, AgentStep):
        return await leaf.run_agent(rt, step, path, scope, variables, role)
    if isinstance(step, RouterStep):
        return await leaf.run_router(rt, step, path, scope, variables)
    if isinstance(step, ToolStep):
        return await leaf.run_tool(rt, step, path, scope, variables, role)
    if isinstance(step, GateStep):
        return await leaf.run_gate(rt, step, path, scope, variables, role)
    if isinstance(step, ParallelStep | MapStep | SupervisorStep | LoopStep | SequenceStep):
        stopped = await pause_before(rt, path, scope, step.kind, role)
        if stopped is not None:
            return stopped
    if isinstance(step, ParallelStep):
        return await composite.run_parallel(rt, step, path, scope, variables, run_step)
    if isinstance(step, MapStep):
        return await composite.run_map(rt, step, path, scope, variables, run_step)
    if isinstance(step, SupervisorStep):
        return await composite.run_supervisor(rt, step, path, scope, variables, run_step)
    if isinstance(step, LoopStep):
        return await composite.run_loop(rt, step, path, scope, variables, run_step)
    if isinstance(step, SequenceStep):
        return await composite.run_sequence(rt, step, path, scope, variables, run_step)
    raise TypeError(f"unknown step kind {type(step).__name__}")
