"""Run (or take from the record) any step: the one entry every parent uses for its children."""

from __future__ import annotations

from typing import Any

from baton.core.runner.context import Scope, StepOutcome
from baton.core.runner.gates.base import Jump, Skip, pass_gate
from baton.core.runner.gates.before_step import before_step
from baton.core.runner.runtime import Runtime
from baton.core.runner.steps import fanout, loop, supervisor
from baton.core.runner.steps.agent import run_agent, run_router
from baton.core.runner.steps.ending import end_by, recorded
from baton.core.runner.steps.gate import run_gate
from baton.core.runner.steps.tool import run_tool
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


async def run_step(
    rt: Runtime, step: Step, path: str, scope: Scope, variables: dict[str, Any], role: str
) -> StepOutcome:
    """Take a recorded step's outcome, or run it."""
    done = recorded(rt, path, scope)
    if done is not None:
        return done
    rt.check_pause()
    if step.budget is not None:
        rt.state.caps[path] = step.budget.max_usd
    rt.journal.begin(path)
    if isinstance(step, AgentStep):
        return await run_agent(rt, step, path, scope, variables, role, run_step)
    if isinstance(step, RouterStep):
        return await run_router(rt, step, path, scope, variables)
    if isinstance(step, ToolStep):
        return await run_tool(rt, step, path, scope, variables, role)
    if isinstance(step, GateStep):
        return await run_gate(rt, step, path, scope, variables, role)
    gate = before_step(rt, path, step.kind, role)
    if gate is not None:
        verdict = await pass_gate(rt, gate)
        if isinstance(verdict, Skip | Jump):
            return await end_by(rt, scope, path, verdict)
    if isinstance(step, ParallelStep):
        return await fanout.run_parallel(rt, step, path, scope, variables, run_step)
    if isinstance(step, MapStep):
        return await fanout.run_map(rt, step, path, scope, variables, run_step)
    if isinstance(step, SupervisorStep):
        return await supervisor.run_supervisor(rt, step, path, scope, variables, run_step)
    if isinstance(step, LoopStep):
        return await loop.run_loop(rt, step, path, scope, variables, run_step)
    if isinstance(step, SequenceStep):
        return await loop.run_sequence(rt, step, path, scope, variables, run_step)
    raise TypeError(f"unknown step kind {type(step).__name__}")
