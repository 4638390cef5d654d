"""Fan-out: parallel branches and map items, run as tasks in branch scopes.

Children's writes fan in through the reducers in declared order (never completion order), so a resumed
run ends with the same state as an uninterrupted one. A child waiting for a concurrency slot is queued:
it has not started (its `StepStarted` comes when it holds its slot), and a child waiting for a person
gives its slot back meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from baton.core import events as ev
from baton.core.runner import prompts
from baton.core.runner.context import Paused, Scope, SessionStop, StepOutcome, combine, slot
from baton.core.runner.runtime import Runtime
from baton.core.runner.steps.ending import complete
from baton.core.spec.fan_out import fan_out as concurrency
from baton.core.spec.model import MapStep, ParallelStep, Step, SupervisorStep
from baton.core.step_path import StepPath

Run = Callable[[Runtime, Step, str, Scope, dict[str, Any], str], Coroutine[Any, Any, StepOutcome]]
LABEL_CHARS = 60


async def fan_out(rt: Runtime, coros: list[Coroutine[Any, Any, StepOutcome]]) -> list[StepOutcome]:
    """Run children concurrently. A pause lets running siblings reach a safe point; a failure cancels them."""
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(c) for c in coros]
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
            raise Paused(rt.state.pausing or error.reason)
    return [task.result() for task in tasks]


async def in_slot(limit: asyncio.Semaphore | None, work: Coroutine[Any, Any, StepOutcome]) -> StepOutcome:
    """Run a child once it holds a slot of its parent's concurrency (None: no limit)."""
    started = False
    try:
        if limit is None:
            slot.set(None)
            started = True
            return await work
        async with limit:
            slot.set(limit)
            started = True
            return await work
    finally:
        if not started:
            work.close()  # cancelled while waiting for a slot: the child never started


async def complete_from(
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
    merged: dict[str, Any] = {}
    for outcome in parts:
        merged = combine(merged, outcome.writes, rt.state.root.schema)
    return await complete(
        rt,
        scope,
        path,
        output=output,
        writes=merged,
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
    at = StepPath(path)
    rt.journal.note(
        [
            started(rt, step, path),
            *[ev.StepScheduled(step=at.child(b.id), step_kind=b.kind, label=b.id) for b in step.branches],
        ]
    )
    limit = asyncio.Semaphore(step.concurrency) if step.concurrency else None
    outcomes = await fan_out(
        rt, [in_slot(limit, run(rt, b, at.child(b.id), scope.fork(), variables, "branch")) for b in step.branches]
    )
    return await complete_from(rt, scope, path, outcomes, output=None, note=f"{len(outcomes)} branches")


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
    at = StepPath(path)
    rt.journal.note(
        [
            started(rt, step, path),
            *[
                ev.StepScheduled(step=at.item(i), step_kind=step.step.kind, label=item_label(step, item, i))
                for i, item in enumerate(items)
            ],
        ]
    )
    limit = asyncio.Semaphore(step.concurrency)
    outcomes = await fan_out(
        rt,
        [
            in_slot(
                limit, run(rt, step.step, at.item(i), scope.fork(), {**variables, step.item: item, "index": i}, "item")
            )
            for i, item in enumerate(items)
        ],
    )
    return await complete_from(rt, scope, path, outcomes, output=None, note=f"{len(items)} items")


def started(rt: Runtime, step: ParallelStep | MapStep | SupervisorStep, path: str, **fields: Any) -> ev.StepStarted:
    """A fan-out's start, saying how many children really run at once and the session-wide limit that
    lowered its own figure (empty when none did): children that call a model share `defaults.concurrency`
    model calls."""
    width = concurrency(rt.spec, step)
    at_once, capped_by = (width.at_once, width.capped_by) if width is not None else (None, "")
    return ev.StepStarted(
        step=path, step_kind=step.kind, concurrency=at_once, concurrency_capped_by=capped_by, **fields
    )


def item_label(step: MapStep, item: Any, index: int) -> str:
    """How an item is named: the map's `label` template over its fields, its `as` name and `{index}`;
    by default its first short text (the item itself, or a dict's first short string value), else
    `#<index>`."""
    if step.label is not None:
        env = {**(item if isinstance(item, dict) else {}), step.item: item, "index": index}
        text = " ".join(prompts.render(step.label, env).split())
        if text:
            return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    if isinstance(item, str) and item.strip():
        first = item.strip().splitlines()[0].strip()
        return first if len(first) <= LABEL_CHARS else first[: LABEL_CHARS - 1] + "…"
    if isinstance(item, dict):
        for value in item.values():
            if isinstance(value, str) and value.strip() and len(value.strip()) <= LABEL_CHARS:
                return " ".join(value.split())
    return f"#{index}"
