"""Agents and routers: steps whose work is one model call (a router's rules may decide first)."""

from __future__ import annotations

from typing import Any

from baton.core import events as ev
from baton.core import expr
from baton.core.runner.context import Scope, SessionStop, StepOutcome
from baton.core.runner.gates.base import Jump, Skip, pass_gate
from baton.core.runner.gates.before_step import before_step
from baton.core.runner.runtime import Runtime
from baton.core.runner.shape import shape
from baton.core.runner.steps.agent_loop import RunChild, run_tool_loop
from baton.core.runner.steps.ending import complete, end_by
from baton.core.runner.steps.inputs import gather_inputs
from baton.core.runner.steps.model import ModelTask, run_model
from baton.core.runner.writes import check_writes
from baton.core.spec.model import AgentStep, RouterStep


async def run_agent(
    rt: Runtime,
    step: AgentStep,
    path: str,
    scope: Scope,
    variables: dict[str, Any],
    role: str,
    run_step: RunChild | None = None,
) -> StepOutcome:
    """One model call (structured when `output` is declared), or with `tools` a tool loop (`run_step`
    runs the agents it delegates to); a loop's judge replies pass/feedback."""
    inputs = await gather_inputs(rt, step, path, scope, variables)
    if isinstance(inputs, StepOutcome):
        return inputs
    call = shape(rt.spec, step, path, role)
    assert call is not None
    fields = call.fields
    writes = list(step.writes)

    def to_writes(output: Any) -> dict[str, Any]:
        if fields is None:
            return {writes[0]: output} if writes else {}
        return {k: output[k] for k in writes if isinstance(output, dict) and k in output}

    task = ModelTask(call, to_writes, step.review, can_reroute=role == "top")
    if step.tools:
        return await run_tool_loop(rt, step, task, scope, inputs, run_step)
    return await run_model(rt, task, scope, inputs)


async def run_router(rt: Runtime, step: RouterStep, path: str, scope: Scope, variables: dict[str, Any]) -> StepOutcome:
    """Rules first, then the (cheap) model, then the default route."""
    inputs = await gather_inputs(rt, step, path, scope, variables)
    if isinstance(inputs, StepOutcome):
        return inputs
    env = inputs.env()
    label: str | None = None
    reason = ""
    for rule in step.rules:
        try:
            matched = expr.parse(rule.when).evaluate(env)
        except expr.ExprError as exc:
            raise SessionStop(f"router '{path}': {exc}", path, "rule_error") from None
        if matched:
            label, reason = rule.route, f"rule: {rule.when}"
            break
    if label is None and step.model is None:
        label, reason = step.default, "default route (no rule matched)"
    if label is None:
        call = shape(rt.spec, step, path)
        assert call is not None
        task = ModelTask(
            call,
            lambda output: {w: output["route"] for w in step.writes[:1]},
            step.review,
            to_jump=lambda output: step.routes.get(str(output.get("route"))) if isinstance(output, dict) else None,
        )
        return await run_model(rt, task, scope, inputs)
    gate = before_step(rt, path, "router", "top")
    if gate is not None:
        verdict = await pass_gate(rt, gate)
        if isinstance(verdict, Skip | Jump):
            return await end_by(rt, scope, path, verdict)
    orchestration = True if step.orchestration is None else step.orchestration
    rt.journal.note(
        [
            ev.StepStarted(
                step=path,
                step_kind="router",
                reads=step.read_keys,
                input_chars=inputs.chars,
                orchestration=orchestration,
            )
        ]
    )
    return await complete(
        rt,
        scope,
        path,
        output={"route": label, "reason": reason},
        writes=check_writes(rt.spec.state, {w: label for w in step.writes[:1]}),
        jump=step.routes[label],
    )
