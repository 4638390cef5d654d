"""Composite steps: parallel, map, supervisor, loop and sequence.

Fan-out children run as tasks in branch scopes; their writes fan in through the reducers in declared
order (never completion order), so a resumed run ends with the same state as an uninterrupted one.
Sequential composites let children write straight into the enclosing scope and record the combined
writes on their own completion, so a replay can apply them in one go.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from baton.core import events as ev
from baton.core import expr
from baton.core.runner import prompts
from baton.core.runner.context import Paused, Scope, SessionStop, StepOutcome, combine, slot
from baton.core.runner.model_step import ModelTask, run_model
from baton.core.runner.outputs import complete
from baton.core.runner.runtime import Ask, Runtime
from baton.core.spec.model import LoopStep, MapStep, ParallelStep, SequenceStep, Step, SupervisorStep
from baton.core.structured import manager_fields

Run = Callable[[Runtime, Step, str, Scope, dict[str, Any], str], Awaitable[StepOutcome]]

MANAGER_SYSTEM = (
    "You are a manager. Decide which of the workers below are needed for this request, and why. "
    "Choose only the workers whose output the final answer needs."
)


async def fan_out(rt: Runtime, coros: list[Coroutine[Any, Any, StepOutcome]]) -> list[StepOutcome]:
    """Run children concurrently. A pause lets running siblings reach a safe point; a failure cancels them."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    pending = set(tasks)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if task.cancelled():
                    continue
                error = task.exception()
                if isinstance(error, Paused):
                    rt.pause(error.reason)
                elif error is not None:
                    for other in pending:
                        other.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)
                    raise error
    except asyncio.CancelledError:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for task in tasks:
        if task.cancelled():
            raise asyncio.CancelledError()
        error = task.exception()
        if isinstance(error, Paused):
            raise Paused(rt.pausing or error.reason)
    return [task.result() for task in tasks]


async def _in_slot(limit: asyncio.Semaphore | None, work: Awaitable[StepOutcome]) -> StepOutcome:
    try:
        if limit is None:
            slot.set(None)
            return await work
        async with limit:
            slot.set(limit)
            return await work
    finally:
        if inspect.iscoroutine(work) and inspect.getcoroutinestate(work) == inspect.CORO_CREATED:
            work.close()  # cancelled while waiting for a slot: the child never started


def _merge(rt: Runtime, outcomes: list[StepOutcome]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for outcome in outcomes:
        merged = combine(merged, outcome.writes, rt.root.schema)
    return merged


async def _complete_from(
    rt: Runtime,
    scope: Scope,
    path: str,
    parts: list[StepOutcome],
    *,
    output: Any,
    note: str,
    passed: bool = True,
    apply: bool = True,
) -> StepOutcome:
    """Complete a composite step from its children: their writes merged in order (applied already when
    `apply` is False), tokens and cost summed (cost unknown when any child's is), degraded when any
    child was or the composite did not pass."""
    costs = [o.cost_usd for o in parts]
    degraded = not passed or any(o.status == "degraded" for o in parts)
    return await complete(
        rt,
        scope,
        path,
        output=output,
        writes=_merge(rt, parts),
        status="degraded" if degraded else "completed",
        tokens_in=sum(o.tokens_in for o in parts),
        tokens_out=sum(o.tokens_out for o in parts),
        cost=None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
        note=note,
        apply=apply,
    )


async def run_parallel(
    rt: Runtime, step: ParallelStep, path: str, scope: Scope, variables: dict[str, Any], run: Run
) -> StepOutcome:
    """Fixed branches at once; fan-in in branch order."""
    rt.sink.post(
        [
            ev.StepStarted(step=path, step_kind="parallel"),
            *[ev.StepScheduled(step=f"{path}/{b.id}", step_kind=b.kind, label=b.id) for b in step.branches],
        ]
    )
    limit = asyncio.Semaphore(step.concurrency) if step.concurrency else None
    outcomes = await fan_out(
        rt, [_in_slot(limit, run(rt, b, f"{path}/{b.id}", scope.fork(), variables, "branch")) for b in step.branches]
    )
    return await _complete_from(rt, scope, path, outcomes, output=None, note=f"{len(outcomes)} branches")


async def run_map(
    rt: Runtime, step: MapStep, path: str, scope: Scope, variables: dict[str, Any], run: Run
) -> StepOutcome:
    """The template step once per item, at most `concurrency` at a time."""
    items = scope.state.get(step.over)
    if not isinstance(items, list):
        raise SessionStop(f"map '{path}': '{step.over}' is not a list", path, "input_invalid")
    if len(items) > step.max_items:
        raise SessionStop(
            f"map '{path}': '{step.over}' has {len(items)} items, over max_items {step.max_items}",
            path,
            "input_invalid",
        )
    rt.sink.post(
        [
            ev.StepStarted(step=path, step_kind="map"),
            *[
                ev.StepScheduled(step=f"{path}[{i}]", step_kind=step.step.kind, label=_label(item))
                for i, item in enumerate(items)
            ],
        ]
    )
    limit = asyncio.Semaphore(step.concurrency)
    outcomes = await fan_out(
        rt,
        [
            _in_slot(
                limit,
                run(rt, step.step, f"{path}[{i}]", scope.fork(), {**variables, step.item: item, "index": i}, "item"),
            )
            for i, item in enumerate(items)
        ],
    )
    return await _complete_from(rt, scope, path, outcomes, output=None, note=f"{len(items)} items")


def _label(item: Any) -> str:
    text = item if isinstance(item, str) else str(item)
    return text[:60]


async def run_supervisor(
    rt: Runtime, step: SupervisorStep, path: str, scope: Scope, variables: dict[str, Any], run: Run
) -> StepOutcome:
    """Manager decides (structured) → only the chosen workers run → synthesis."""
    from baton.core.runner.dispatch import replayed

    rt.sink.post([ev.StepStarted(step=path, step_kind="supervisor", orchestration=True)])
    ids = [w.id for w in step.workers]
    manager_path = f"{path}/manager"
    decision = replayed(rt, manager_path, scope)
    if decision is None:
        inputs = prompts.gather(step, scope.state, rt.spec.state, variables)
        described = "\n".join(f"- {w.id}: {w.description or w.kind}" for w in step.workers)
        m = step.manager
        task = ModelTask(
            path=manager_path,
            kind="manager",
            alias=m.model or rt.spec.defaults.model or "",
            system=(m.system or MANAGER_SYSTEM) + "\n\nWorkers:\n" + described,
            template=m.prompt,
            fields=manager_fields(ids),
            to_writes=lambda output: {},
            review=step.review,
            policy=m,
            orchestration=True if step.orchestration is None else step.orchestration,
            reads=step.read_keys,
            fallback_prompt="Which workers are needed?",
            can_reroute=False,
        )
        decision = await run_model(rt, task, scope, inputs)
    if decision.status == "skipped":
        chosen, why = list(ids), "manager skipped: every worker runs"
    else:
        output = decision.output if isinstance(decision.output, dict) else {}
        picked = set(output.get("workers") or [])
        chosen, why = [i for i in ids if i in picked], str(output.get("reason", ""))
    not_chosen = [
        ev.StepSkipped(step=f"{path}/{w}", reason=f"not chosen by the manager: {why}".strip())
        for w in ids
        if w not in chosen and f"{path}/{w}" not in rt.history.skipped
    ]
    if not_chosen:
        await rt.sink.commit(not_chosen)
    fan_path = f"{path}/workers"
    fanned = replayed(rt, fan_path, scope)
    if fanned is None:
        workers = [w for w in step.workers if w.id in chosen]
        rt.sink.post([ev.StepScheduled(step=f"{path}/{w.id}", step_kind=w.kind, label=w.id) for w in workers])
        limit = asyncio.Semaphore(step.concurrency) if step.concurrency else None
        outcomes = await fan_out(
            rt, [_in_slot(limit, run(rt, w, f"{path}/{w.id}", scope.fork(), variables, "worker")) for w in workers]
        )
        fanned = await _complete_from(
            rt, scope, fan_path, outcomes, output={"workers": chosen}, note=f"{len(workers)} of {len(ids)} workers"
        )
    parts = [decision, fanned]
    if step.synthesis is not None:
        parts.append(await run(rt, step.synthesis, f"{path}/{step.synthesis.id}", scope, variables, "synthesis"))
    return await _complete_from(
        rt,
        scope,
        path,
        parts,
        output={"workers": chosen, "reason": why},
        note=f"manager chose {', '.join(chosen) or 'no workers'}",
        apply=False,
    )


async def run_loop(
    rt: Runtime, step: LoopStep, path: str, scope: Scope, variables: dict[str, Any], run: Run
) -> StepOutcome:
    """Evaluator-optimizer: body, then judge (or rule), until it passes or `max_iterations`."""
    rt.sink.post([ev.StepStarted(step=path, step_kind="loop")])
    parts: list[StepOutcome] = []
    passed = False
    iteration = 0
    for iteration in range(1, step.max_iterations + 1):
        base = f"{path}#{iteration}"
        for child in step.steps:
            parts.append(await run(rt, child, f"{base}/{child.id}", scope, variables, "body"))
        if step.judge is not None:
            verdict = await run(rt, step.judge, f"{base}/{step.judge.id}", scope, variables, "judge")
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
    return await _complete_from(rt, scope, path, parts, output=output, note=note, passed=passed, apply=False)


async def _judge_failed(rt: Runtime, step: LoopStep, path: str, iterations: int) -> None:
    """Work the judge (or the `until` rule) never passed is a failure, not an output: a person decides
    whether to go on with it (the loop then counts as degraded) or to stop; unattended, the session stops
    rather than run later steps on it."""
    why = "the judge" if step.judge is not None else f"'until: {step.until}'"
    message = f"{why} did not pass the work after {iterations} iteration{'s' if iterations != 1 else ''}"
    await rt.checkpoints.ask(
        Ask(
            path,
            "escalation",
            message=message,
            context={"error": message, "category": "judge_failed", "attempts": iterations},
            options=["approve", "pause"],
        )
    )


async def run_sequence(
    rt: Runtime, step: SequenceStep, path: str, scope: Scope, variables: dict[str, Any], run: Run
) -> StepOutcome:
    """Children in order, as one step."""
    rt.sink.post([ev.StepStarted(step=path, step_kind="sequence")])
    parts = [await run(rt, child, f"{path}/{child.id}", scope, variables, "body") for child in step.steps]
    last = parts[-1].output if parts else None
    return await _complete_from(rt, scope, path, parts, output=last, note="", apply=False)
