"""`supervisor`: a manager decides (a structured reply) which workers run; only those run; then the
synthesis. The workers it passed over are recorded as skipped with its reason."""

from __future__ import annotations

import asyncio
from typing import Any

from baton.core import events as ev
from baton.core.runner import prompts
from baton.core.runner.context import Scope, StepOutcome
from baton.core.runner.runtime import Runtime
from baton.core.runner.shape import manager_shape
from baton.core.runner.steps.ending import recorded
from baton.core.runner.steps.fanout import Run, complete_from, fan_out, in_slot, started
from baton.core.runner.steps.model import ModelTask, run_model
from baton.core.spec.model import SupervisorStep
from baton.core.step_path import StepPath


async def run_supervisor(
    rt: Runtime, step: SupervisorStep, path: str, scope: Scope, variables: dict[str, Any], run: Run
) -> StepOutcome:
    """Manager decides (structured) → only the chosen workers run → synthesis."""
    rt.journal.note([started(rt, step, path, orchestration=True)])
    at = StepPath(path)
    ids = [w.id for w in step.workers]
    decision = await _manager(rt, step, path, scope, variables)
    if decision.status == "skipped":
        chosen, why = list(ids), "manager skipped: every worker runs"
    else:
        output = decision.output if isinstance(decision.output, dict) else {}
        picked = set(output.get("workers") or [])
        chosen, why = [i for i in ids if i in picked], str(output.get("reason", ""))
    rt.journal.note(
        [
            ev.StepSkipped(step=at.child(w), reason=f"not chosen by the manager: {why}".strip())
            for w in ids
            if w not in chosen and at.child(w) not in rt.history.skipped
        ]
    )
    fan_path = at.child("workers")
    fanned = recorded(rt, fan_path, scope)
    if fanned is None:
        workers = [w for w in step.workers if w.id in chosen]
        rt.journal.note([ev.StepScheduled(step=at.child(w.id), step_kind=w.kind, label=w.id) for w in workers])
        limit = asyncio.Semaphore(step.concurrency) if step.concurrency else None
        outcomes = await fan_out(
            rt, [in_slot(limit, run(rt, w, at.child(w.id), scope.fork(), variables, "worker")) for w in workers]
        )
        fanned = await complete_from(
            rt, scope, fan_path, outcomes, output={"workers": chosen}, note=f"{len(workers)} of {len(ids)} workers"
        )
    parts = [decision, fanned]
    if step.synthesis is not None:
        parts.append(await run(rt, step.synthesis, at.child(step.synthesis.id), scope, variables, "synthesis"))
    return await complete_from(
        rt,
        scope,
        path,
        parts,
        output={"workers": chosen, "reason": why},
        note=f"manager chose {', '.join(chosen) or 'no workers'}",
        apply=False,
    )


async def _manager(
    rt: Runtime, step: SupervisorStep, path: str, scope: Scope, variables: dict[str, Any]
) -> StepOutcome:
    """The manager's decision: recorded, or asked."""
    call = manager_shape(rt.spec, step, path)
    done = recorded(rt, call.path, scope)
    if done is not None:
        return done
    inputs = prompts.gather(step, scope.state, rt.spec.state, variables)
    task = ModelTask(call, lambda output: {}, step.review, can_reroute=False)
    return await run_model(rt, task, scope, inputs)
