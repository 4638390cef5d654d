"""How a step ends: its completion or skip record, handed to the journal in one transaction.

After a step's completion record commits, the step never runs again: a resumed run takes its outcome
from the record (`recorded`). A jump (a router's route, a person's reroute) commits with the step's
end, together with a skip record for every step it passes over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from baton.core import events as ev
from baton.core.runner import navigation
from baton.core.runner.context import Scope, StepOutcome
from baton.core.runner.gates.base import Jump, Skip
from baton.core.runner.runtime import Runtime
from baton.core.runner.writes import check_writes


def recorded(rt: Runtime, path: str, scope: Scope) -> StepOutcome | None:
    """The recorded outcome of a step that already completed or was skipped, applied to `scope`
    without any event: a step never runs again after its completion record committed."""
    done = rt.history.completed.get(path)
    if done is not None:
        if done.writes:
            scope.apply(dict(done.writes), done.replaced)
        if done.status == "degraded":
            rt.state.degraded = True
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


def _jump(rt: Runtime, path: str, target: str, output: Any, by: str) -> list[ev.Event]:
    events, passed = navigation.jump(rt.spec, rt.state.finished, path, target, output, by)
    rt.journal.passed_over(passed)
    return events


async def complete(
    rt: Runtime,
    scope: Scope,
    path: str,
    *,
    output: Any,
    writes: dict[str, Any],
    status: str = "completed",
    pre_events: Sequence[ev.Event] = (),
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost: float | None = 0.0,
    latency: float = 0.0,
    note: str = "",
    jump: str | None = None,
    jump_by: str = "",
    apply: bool = True,
    replaced: Sequence[str] = (),
) -> StepOutcome:
    """The completion record: output, state update and events in one transaction. `apply=False`
    records writes already applied by children (sequential composites) so that replay can apply them
    in one go; `replaced` keys replace their value whatever their reducer (a person's edit)."""
    ops = scope.apply(writes, replaced) if apply else []
    events: list[ev.Event] = list(pre_events)
    if scope.root and ops:
        events.append(ev.StateUpdated(step=path, ops=ops))
    events.append(
        ev.StepCompleted(
            step=path,
            status=status,
            output=output,
            writes=writes,
            replaced=sorted(replaced),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost,
            latency_s=round(latency, 6),
            note=note,
            next=jump or "",
        )
    )
    if jump:
        events += _jump(rt, path, jump, output, jump_by or "router")
    await rt.journal.step_ended(path, events, degraded=status == "degraded")
    return StepOutcome(status, output, writes, jump, tokens_in, tokens_out, cost)


async def skip(
    rt: Runtime,
    scope: Scope,
    path: str,
    decision: ev.DecisionMade | None,
    *,
    reason: str = "",
    jump: str | None = None,
    degraded: bool = False,
) -> StepOutcome:
    """Record a skipped step (with any values a person supplied in its place)."""
    supplied = (
        check_writes(rt.spec.state, dict(decision.supplied)) if decision is not None and decision.supplied else {}
    )
    ops = scope.apply(supplied)
    events: list[ev.Event] = []
    if scope.root and ops:
        events.append(ev.StateUpdated(step=path, ops=ops))
    by = decision.by if decision is not None else "runner"
    text = reason or (f"skipped by {by}" + (f", continuing at '{jump}'" if jump else ""))
    events.append(ev.StepSkipped(step=path, reason=text, supplied=supplied, next=jump or ""))
    if jump:
        events += _jump(rt, path, jump, None, by)
    await rt.journal.step_ended(path, events, degraded=degraded)
    return StepOutcome("skipped", None, supplied, jump)


async def end_by(rt: Runtime, scope: Scope, path: str, verdict: Skip | Jump) -> StepOutcome:
    """A person decided the step does not run (here, or anywhere: a jump)."""
    if isinstance(verdict, Jump):
        return await skip(rt, scope, path, verdict.decision, jump=verdict.target)
    return await skip(rt, scope, path, verdict.decision, degraded=verdict.degraded)
