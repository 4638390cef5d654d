"""Sequential composites: `loop` (evaluator–optimizer) and `sequence`.

Children write straight into the enclosing scope; the composite records their combined writes on its
own completion, so a replay can apply them in one go.
"""

from __future__ import annotations

from typing import Any

from baton.core import events as ev
from baton.core import expr
from baton.core.runner.context import Scope, SessionStop, StepOutcome
from baton.core.runner.gates.base import pass_gate
from baton.core.runner.gates.escalation import JudgeFailed
from baton.core.runner.runtime import Runtime
from baton.core.runner.steps.fanout import Run, complete_from
from baton.core.spec.model import LoopStep, SequenceStep
from baton.core.step_path import StepPath


async def run_loop(
    rt: Runtime, step: LoopStep, path: str, scope: Scope, variables: dict[str, Any], run: Run
) -> StepOutcome:
    """Evaluator-optimizer: body, then judge (or rule), until it passes or `max_iterations`."""
    rt.journal.note([ev.StepStarted(step=path, step_kind="loop")])
    parts: list[StepOutcome] = []
    passed = False
    iteration = 0
    for iteration in range(1, step.max_iterations + 1):
        base = StepPath(path).iteration(iteration)
        for child in step.steps:
            parts.append(await run(rt, child, base.child(child.id), scope, variables, "body"))
        if step.judge is not None:
            verdict = await run(rt, step.judge, base.child(step.judge.id), scope, variables, "judge")
            parts.append(verdict)
            passed = verdict.status == "skipped" or (
                isinstance(verdict.output, dict) and bool(verdict.output.get("pass"))
            )
        else:
            assert step.until is not None
            try:
                passed = bool(expr.parse(step.until).evaluate(scope.state))
            except expr.ExprError as exc:
                raise SessionStop(f"loop '{path}': until: {exc}", path, "rule_error") from None
        if passed:
            break
    if not passed:
        await _judge_failed(rt, step, path, iteration)
    note = (
        f"passed on iteration {iteration}"
        if passed
        else f"max_iterations ({step.max_iterations}) reached without passing; accepted as is"
    )
    output = {"iterations": iteration, "passed": passed}
    return await complete_from(rt, scope, path, parts, output=output, note=note, passed=passed, apply=False)


async def _judge_failed(rt: Runtime, step: LoopStep, path: str, iterations: int) -> None:
    """Work the judge (or the `until` rule) never passed is a failure, not an output: a person decides
    whether to go on with it (the loop then counts as degraded) or to stop; unattended, the session stops
    rather than run later steps on it."""
    why = "the judge" if step.judge is not None else f"'until: {step.until}'"
    message = f"{why} did not pass the work after {iterations} iteration{'s' if iterations != 1 else ''}"
    await pass_gate(rt, JudgeFailed(path, message, iterations))


async def run_sequence(
    rt: Runtime, step: SequenceStep, path: str, scope: Scope, variables: dict[str, Any], run: Run
) -> StepOutcome:
    """Children in order, as one step."""
    rt.journal.note([ev.StepStarted(step=path, step_kind="sequence")])
    at = StepPath(path)
    parts = [await run(rt, child, at.child(child.id), scope, variables, "body") for child in step.steps]
    last = parts[-1].output if parts else None
    return await complete_from(rt, scope, path, parts, output=last, note="", apply=False)
