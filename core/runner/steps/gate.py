"""A `gate` step: a pure human checkpoint over the values it reads."""

from __future__ import annotations

from typing import Any

from baton.core import events as ev
from baton.core.runner import prompts
from baton.core.runner.context import Scope, StepOutcome
from baton.core.runner.gates.base import Accept, pass_gate
from baton.core.runner.gates.human import HumanGate
from baton.core.runner.runtime import Runtime
from baton.core.runner.steps.ending import complete
from baton.core.runner.steps.inputs import gather_inputs
from baton.core.runner.writes import check_writes
from baton.core.spec.model import GateStep


async def run_gate(
    rt: Runtime, step: GateStep, path: str, scope: Scope, variables: dict[str, Any], role: str
) -> StepOutcome:
    """Approve, edit the values it shows, reroute, or reject (the session stops)."""
    inputs = await gather_inputs(rt, step, path, scope, variables)
    if isinstance(inputs, StepOutcome):
        return inputs
    rt.journal.note([ev.StepStarted(step=path, step_kind="gate", reads=step.read_keys, input_chars=inputs.chars)])
    message = prompts.render(step.message, inputs.env()) if step.message else f"Continue past '{step.id}'?"
    verdict = await pass_gate(rt, HumanGate(path, step, message, dict(inputs.values), role == "top"))
    assert isinstance(verdict, Accept)
    decision = verdict.decision
    writes = check_writes(rt.spec.state, verdict.writes or {})
    return await complete(
        rt,
        scope,
        path,
        output=verdict.output,
        writes=writes,
        replaced=list(writes),
        note=f"{decision.decision} by {decision.by}",
        jump=verdict.jump,
        jump_by=verdict.jump_by,
    )
